"""`facedesk search`: a probe photo or video clip against the gallery, for an open case;
the candidates shown are recorded in the case and the audit log.

The workflow is still assembled here from app pieces (sign in, the open case, the engine
check, analysing the probe, choosing its face, the SHA-256 re-check, searching, recording);
a `search_for_case` use case in facedesk.app is to take it over, and `_search_probe` then
becomes one call to it plus the printing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from facedesk.app import accounts
from facedesk.app.cases import Case, require_open_case, search_for_case
from facedesk.app.search import DEFAULT_TOP_K, Probe, Searcher, analyze_probe, choose_face
from facedesk.app.sources import read_probe_list
from facedesk.cli import options
from facedesk.cli.clip_commands import clip_probe
from facedesk.cli.output import EXIT_USER_ERROR, emit_json, printable
from facedesk.cli.signin import signed_in
from facedesk.domain import clips, filters
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.clips import TrackOptions
from facedesk.domain.faces import Box, FaceEngine
from facedesk.domain.filters import SearchFilter
from facedesk.errors import FaceDeskError
from facedesk.store import Gallery

LEAD_NOTICE = ("Candidates are investigative leads only — not identifications. "
               "A trained reviewer must compare every candidate.")


def _face_choice(value: str) -> int | str:
    if value == "largest":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("must be a face number (0, 1, ...) or 'largest'") from None


@click.command()
@click.argument("probes", nargs=-1, type=click.Path(path_type=Path))
@options.db_option()
@click.option("--probes", "probe_list", type=click.Path(path_type=Path, dir_okay=False),
              help="A CSV whose 'path' column names the probe photos (relative to the CSV), "
                   "searched one after the other as with several PROBE arguments.")
@click.option("--case", "case_number", required=True, metavar="NUMBER",
              help="The open case this search is made for (facedesk case open); the search "
                   "is recorded in it.")
@options.user_option()
@click.option("--top", "top_k", type=click.IntRange(1, 1000), default=DEFAULT_TOP_K,
              show_default=True,
              help="Show at most this many candidate persons (no more than the "
                   "administrator's top_k, and only those within the threshold: facedesk "
                   "settings show).")
@click.option("--face", default="largest", show_default=True,
              help="Which probe face to search: its number, or 'largest'.")
@click.option("--box", help="Search the face in this box (top,right,bottom,left) when "
                            "detection finds none.")
@options.upsample_option(1)
@options.detect_max_side_option(2048)
@options.detector_option()
@options.jitters_option()
@click.option("--track", "track", type=click.IntRange(1), default=None,
              help="Video clips: search this face track (facedesk frames lists them); "
                   "default: the track with the best frame.")
@click.option("--frame", "frame", type=click.IntRange(0), default=None,
              help="Video clips: search this frame (numbered from 0); with --track, one of "
                   "the track's kept frames.")
@click.option("--at", "at", metavar="TIME", default=None,
              help="Video clips: search the frame at this time (00:01:23.4 or 83.4).")
@click.option("--fuse/--no-fuse", "fuse", default=None,
              help="Video clips: search the track's fused template (mean of its best frames' "
                   "normalised encodings) or its best frame alone "
                   f"(default: {'fused' if clips.DEFAULT_FUSE else 'best frame'}).")
@click.option("--rotate", type=click.Choice(["0", "90", "180", "270"]), default="0",
              help="Video clips: turn the frame counter-clockwise (recorded).")
@click.option("--brightness", type=click.FloatRange(-255, 255), default=0.0,
              help="Video clips: add this to every pixel (recorded).")
@click.option("--contrast", type=click.FloatRange(0.1, 10), default=1.0,
              help="Video clips: scale around mid-grey by this factor (recorded).")
@click.option("--where", "where", multiple=True, metavar="COLUMN=VALUE",
              help="Search only photos whose metadata COLUMN is VALUE (case-insensitive; "
                   "COLUMN!=VALUE: is not). Repeatable: values of one column are OR-ed, "
                   "columns AND-ed. Photos without the column are left out and counted.")
@click.option("--age", metavar="LO-HI",
              help="Search only photos of persons aged LO to HI at booking (25-40, 25-, "
                   "-40), from the date of birth and booking date columns (first found of "
                   f"{', '.join(filters.DOB_COLUMNS)} / {', '.join(filters.BOOKING_COLUMNS)}"
                   "); photos without readable dates are left out and counted.")
@click.option("--booked", metavar="FROM..TO",
              help="Search only photos booked in this date range (2019-01-01.., "
                   "..2020-12-31, 2019-01-01..2020-12-31; ends included).")
@click.option("--dob-column", metavar="COLUMN", help="The date of birth column for --age.")
@click.option("--booking-column", metavar="COLUMN",
              help="The booking date column for --age and --booked.")
@options.json_option("Print the result as JSON: one object for one PROBE, a list of objects "
             "(one per probe, in order) for several or --probes.")
@options.quiet_option("No progress on stderr (video clips).")
def search(probes: tuple[Path, ...], db: Path, probe_list: Path | None, case_number: str,
           user: str | None, top_k: int, face: str, box: str | None, upsample: int,
           detect_max_side: int, detector: str, jitters: int, track: int | None,
           frame: int | None, at: str | None, fuse: bool | None, rotate: str,
           brightness: float, contrast: float, where: tuple[str, ...], age: str | None,
           booked: str | None, dob_column: str | None, booking_column: str | None,
           as_json: bool, quiet: bool) -> None:
    """Search the face in each PROBE against every face of the gallery, for an open case;
    list the candidate persons shown (within the administrator's threshold and top_k), one
    row per person, closest first. Each probe is its own search, recorded in the case and
    the audit log with the probe image. A probe that cannot be searched is reported in one
    line and the others go on; the exit code is 1 if any could not be searched.

    A PROBE may be a video clip (recognised by its content, not its name): its faces are
    followed and a track's best frame or fused template is searched, or one frame
    (--frame, --at); the clip's SHA-256, the frames used and their PNGs are recorded.

    --where, --age and --booked narrow the search to the photos whose metadata passes
    (a person is searched when one of their photos passes, and only those photos are
    compared); the filter and what it left out are recorded with the search."""
    flt = filters.parse(where, age, booked, dob_column, booking_column)
    paths = list(probes) + (read_probe_list(probe_list) if probe_list else [])
    if not paths:
        raise click.UsageError("give at least one PROBE photo or clip, or --probes LIST.csv")
    choice = _face_choice(face)
    drawn = Box.parse(box) if box else None
    clip = _ClipChoice(track, frame, at, fuse, int(rotate), brightness, contrast,
                       quiet or as_json)
    if len(paths) > 1 and (drawn is not None or clip.names_part()):
        raise click.UsageError("--box, --track, --frame and --at name a face in one photo or "
                               "clip: search one PROBE with them")
    single = len(paths) == 1 and probe_list is None
    if single and clip.given() and not clips.looks_like_clip(paths[0]):
        raise click.UsageError(f"{paths[0]} is not a video clip: --track, --frame, --at and "
                               "--fuse apply to clips only")
    docs: list[dict[str, Any]] = []
    failed = 0
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "search")
        case = require_open_case(gallery, case_number)
        engine = options.engine_spec(detector, jitters).create()
        searcher = Searcher(gallery, engine.identity())
        searcher.check_engine(searcher.index())  # refuse before the slow part
        detect = DetectOptions(upsample=upsample, max_side=detect_max_side)
        for i, probe in enumerate(paths):
            if i and not as_json:
                click.echo("")
            try:
                doc = _search_probe(probe, db, session, case, engine, searcher, detect,
                                    choice, drawn, top_k, as_json, clip, flt)
            except FaceDeskError as exc:
                if single:
                    raise  # one probe: its error, as always
                failed += 1
                click.echo(f"error: {printable(str(probe))}: not searched: {exc.message}",
                           err=True)
                docs.append({"probe": {"path": str(probe)},
                             "error": {"code": exc.code, "message": exc.message}})
                continue
            docs.append(doc)
    if as_json:
        emit_json(docs[0] if single else docs)
    if len(paths) > 1 and not as_json:
        gone = f"; {failed} could not be searched (see above)" if failed else ""
        click.echo(f"\n{len(paths) - failed} of {len(paths)} probes searched and recorded in "
                   f"case {printable(case.number)}{gone}")
    if failed:
        sys.exit(EXIT_USER_ERROR)


@dataclass(frozen=True)
class _ClipChoice:
    """What `search` was told about a video clip's part and its recorded adjustments."""

    track: int | None
    frame: int | None
    at: str | None
    fuse: bool | None
    rotate: int
    brightness: float
    contrast: float
    quiet: bool

    def names_part(self) -> bool:
        return self.track is not None or self.frame is not None or self.at is not None

    def given(self) -> bool:
        return self.names_part() or self.fuse is not None


def _search_probe(probe: Path, db: Path, session: accounts.Session, case: Case,
                  engine: FaceEngine, searcher: Searcher, detect: DetectOptions,
                  choice: int | str, drawn: Box | None, top_k: int,
                  as_json: bool, clip: _ClipChoice, flt: SearchFilter) -> dict[str, Any]:
    """Search one probe (a photo, or a clip's track or frame) and record it in the case;
    print it (not with --json) and return its JSON document."""
    provenance: dict[str, Any] | None = None
    frame_pngs: list[bytes] = []
    if clips.looks_like_clip(probe):
        cp = clip_probe(engine, probe, track=clip.track, frame=clip.frame, at=clip.at,
                        fuse=clip.fuse, rotate=clip.rotate, brightness=clip.brightness,
                        contrast=clip.contrast,
                        track_options=TrackOptions(upsample=max(detect.upsample, 1)),
                        quiet=clip.quiet)
        analysed = Probe.of_clip(cp, probe)
        chosen = cp.face
        encoding = cp.encoding
        provenance, frame_pngs = cp.provenance, cp.frame_pngs
    else:
        analysed = analyze_probe(engine, probe, detect)
        chosen = choose_face(engine, analysed, choice, drawn)
        encoding = chosen.encoding
    recorded = search_for_case(session, case, searcher, analysed, chosen, top_k,
                               encoding=encoding, provenance=provenance,
                               frame_pngs=frame_pngs, flt=flt)
    result = recorded.result
    doc = {
        "notice": LEAD_NOTICE,
        "case": case.number,
        "search_id": recorded.id,
        "threshold": recorded.threshold,
        "probe": analysed.as_dict(),
        "searched_face": chosen.as_dict(),
        "provenance": provenance,
        **result.as_dict(),
        "lookalikes_at_threshold": recorded.lookalikes_at_threshold,
    }
    if as_json:
        return doc
    n = len(analysed.faces)
    which = "a hand-drawn box" if drawn else f"face {chosen.index} of {n}"
    if provenance is not None:
        click.echo(clips.describe_provenance(provenance))
        which = "the fused template" if provenance["fused"] else "its face"
    q = chosen.quality
    click.echo(f"probe {printable(str(probe))}: {n} face{'s' if n != 1 else ''} found; "
               f"searched {which} "
               f"({q.size_px} px, eyes {q.eye_distance_px:.0f} px apart, "
               f"yaw {q.yaw_deg:+.0f}°)")
    for line in [] if result.filtered is None else result.filtered.left_out_sentences():
        click.echo(line)
    click.echo(f"{result.searched_sentence()} "
               f"in {result.search_ms:.1f} ms; {len(result.candidates)} "
               f"candidate{'' if len(result.candidates) == 1 else 's'} "
               f"within distance {recorded.threshold:.2f}.")
    click.echo(result.probe_lookalike_notice(recorded.threshold))
    click.echo(f"Reference table: {result.lookalike_notice()}")
    if result.calibration_source:
        click.echo(f"FMR and reference look-alikes read with the calibration: "
                   f"{result.calibration_source}")
    click.echo(f"{'rank':>4}  {'distance':>8}  {'similarity':>10}  {'look-alikes (90% band)':>22}"
               f"  {'FMR':>8}  {'ref. look-alikes':>16}  person")
    for c in result.candidates:
        label = c.person_id if not c.name or c.name == c.person_id else \
            f"{c.person_id} ({c.name})"
        fmr = "-" if c.fmr is None else f"{c.fmr.fmr:.1e}"
        ref = "-" if c.expected_lookalikes is None else f"{c.expected_lookalikes:.2g}"
        probe_looks = "-" if c.lookalikes is None else \
            "{:.2g} ({:.2g}-{:.2g})".format(*c.lookalikes)
        click.echo(f"{c.rank:>4}  {c.distance:8.4f}  {c.similarity:10.4f}  {probe_looks:>22}"
                   f"  {fmr:>8}  {ref:>16}  {printable(label)}  {printable(c.photo['path'])}")
    click.echo("look-alikes: different persons of this gallery expected at least this close "
               "to this probe, estimated from its distances to every person searched; ref. "
               "look-alikes: persons searched x FMR of the reference table (facedesk "
               "calibrate), the same for every probe.")
    click.echo(f"search {recorded.id} recorded in case {printable(case.number)}. Record a "
               f"decision on a candidate: facedesk decide --db {db} --search {recorded.id} "
               "--rank N --decision possible_lead|not_the_person|inconclusive --rationale TEXT")
    click.echo(LEAD_NOTICE)
    return doc
