"""`facedesk` command line: import, search, info, verify; the accuracy lab's commands are in
facedesk/cli/lab_commands.py, accountability's (users, settings, cases, decisions, second reviews,
lead sheets, the audit log, retention) in facedesk/cli/case_commands.py. A thin layer over
facedesk.app.

`--json` prints one JSON document on stdout; progress goes to stderr. User errors end
with a one-line message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from facedesk import __version__
from facedesk.app import accounts
from facedesk.app.cases import Case, search_for_case
from facedesk.app.importer import (
    ImportOptions,
    ImportProgress,
    import_detect_options,
    run_import,
)
from facedesk.app.originals import VerifyProgress, verify_originals
from facedesk.app.search import DEFAULT_TOP_K, Probe, Searcher, analyze_probe, choose_face
from facedesk.app.sources import read_probe_list
from facedesk.cli.backup_commands import COMMANDS as BACKUP_COMMANDS
from facedesk.cli.case_commands import COMMANDS as CASE_COMMANDS
from facedesk.cli.case_commands import (
    first_admin_hint,
    open_case_of,
    printable,
    signed_in,
    user_option,
)
from facedesk.cli.clip_commands import clip_probe, frames_command, provenance_lines
from facedesk.cli.lab_commands import COMMANDS, lab_signed_in
from facedesk.domain import clips, private
from facedesk.domain.analysis import DEFAULT_IMPORT_FALLBACKS, FRAME, DetectOptions, check_step
from facedesk.domain.clips import TrackOptions
from facedesk.domain.faces import Box, FaceEngine
from facedesk.domain.formatting import duration_clock as _duration
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FaceDeskError
from facedesk.store import Gallery
from facedesk.store.gallery import sqlite_problem

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 1
EXIT_CANCELLED = 130

LEAD_NOTICE = ("Candidates are investigative leads only — not identifications. "
               "A trained reviewer must compare every candidate.")


def user_errors(fn: F) -> F:
    """Turn FaceDeskError into a one-line message and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            click.echo(f"error: {sqlite_problem(kwargs.get('db'), exc).message}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except FaceDeskError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper  # type: ignore[return-value]


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def engine_spec(detector: str, jitters: int) -> EngineSpec:
    return EngineSpec(options={"detector": detector, "jitters": jitters})


db_option = click.option(
    "--db", "db", required=True, type=click.Path(path_type=Path, dir_okay=False),
    help="The gallery file (one SQLite file per gallery).")
detector_option = click.option(
    "--detector", type=click.Choice(["hog", "cnn"]), default="hog", show_default=True,
    help="Face detector: HOG (fast) or dlib's CNN (slower, finds more turned faces).")
jitters_option = click.option(
    "--jitters", type=click.IntRange(0, 100), default=0, show_default=True,
    help="Re-sample each face this many extra times when encoding (slower, steadier).")


def upsample_option(default: int) -> Callable[[F], F]:
    return click.option(
        "--upsample", type=click.IntRange(0, 4), default=default, show_default=True,
        help="Times the detector doubles the image to find small faces (2 for CCTV stills).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facedesk")
def cli() -> None:
    """FaceDesk: search a face against a gallery of booking photos.

    Results are ranked CANDIDATES for a trained person to review: investigative leads
    only, never identifications.
    """
    private.set_warn(lambda message: click.echo(message, err=True))


# --- import ---------------------------------------------------------------------------------


class ProgressLine:
    """done/total, rate, ETA and failures on stderr: redrawn in place on a terminal,
    a line every few seconds otherwise."""

    def __init__(self, quiet: bool = False) -> None:
        self.tty = sys.stderr.isatty()
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, ev: ImportProgress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        final = ev.phase == "finished"
        if ev.phase == "listing":
            click.echo(f"found {ev.total} items; starting the face engine...", err=True)
            return
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        c = ev.counts
        eta = "" if ev.eta_s is None or final else f", ETA {_duration(ev.eta_s)}"
        text = (f"{ev.done}/{ev.total} photos ({ev.rate:.1f}/s{eta}) new {c.imported}, "
                f"already stored {c.already_stored}, no face {c.no_face}, failed {c.failed}")
        if self.tty:
            click.echo("\r" + text.ljust(100), err=True, nl=final)
        else:
            click.echo(text, err=True)


def _fallback_steps(ctx: click.Context, param: click.Parameter,
                    value: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(check_step(v.strip().lower()) for v in value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command("import")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@db_option
@click.option("--manifest", type=click.Path(path_type=Path, dir_okay=False),
              help="CSV with 'path' (relative to the CSV) and 'person_id' columns; other "
                   "columns are kept as metadata. SOURCE, if given, is then the photo folder.")
@click.option("--workers", type=click.IntRange(0, 256), default=0,
              help="Worker processes (default: one per core).")
@click.option("--layout", type=click.Choice(["auto", "folders", "flat"]), default="auto",
              show_default=True,
              help="Folder sources: 'folders' = one sub-folder per person, 'flat' = each "
                   "photo its own person (or see --person-pattern).")
@click.option("--person-pattern", metavar="REGEX",
              help="Flat folders: regex on the file name whose group 'person' (or first "
                   "group) is the person id, e.g. '^(?P<person>\\d+)_'.")
@upsample_option(1)
@click.option("--detect-max-side", type=click.IntRange(0, 20000), default=1024,
              show_default=True, help="Detect on a copy at most this many pixels long.")
@detector_option
@click.option("--recover/--no-recover", default=True, show_default=True,
              help="When the detector finds no face in a photo, look again with the "
                   f"fallback steps (default: {', '.join(DEFAULT_IMPORT_FALLBACKS)}); costs "
                   "time only on photos without a face. Each stored face records the step "
                   "that found it.")
@click.option("--fallback", "fallbacks", multiple=True, metavar="STEP",
              callback=_fallback_steps,
              help="A fallback step, tried in the order given (repeat the option), instead "
                   "of the default ones: hog:N or cnn:N (HOG or CNN detector, photo doubled "
                   f"N times) or {FRAME} (take the central region of a small, tightly cropped "
                   "photo as the face: a guess no detector confirms).")
@jitters_option
@user_option
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@user_errors
def import_cmd(source: Path | None, db: Path, manifest: Path | None, workers: int,
               layout: str, person_pattern: str | None, upsample: int, detect_max_side: int,
               detector: str, recover: bool, fallbacks: tuple[str, ...], jitters: int,
               user: str | None, as_json: bool, quiet: bool) -> None:
    """Import photos into a gallery (created if needed): SOURCE is a folder with one
    sub-folder per person, a flat folder, or a CSV manifest. Re-running imports only
    what is new; an interrupted import resumes where it stopped. Once the gallery has
    users, the import needs a signed-in user allowed to import."""
    if fallbacks and not recover:
        raise click.UsageError("--fallback and --no-recover contradict each other")
    detect = import_detect_options(upsample, detect_max_side,
                                   fallbacks=fallbacks or (None if recover else ()))
    options = ImportOptions(workers=workers, layout=layout, person_pattern=person_pattern,
                            detect=detect)
    cancel = CancelToken()
    progress = ProgressLine(quiet)
    final: ImportProgress | None = None
    with Gallery.open(db, create=True) as gallery:
        user_id: str | None = None
        if accounts.has_users(gallery):
            user_id = signed_in(gallery, user).user_id  # run_import checks the permission
        events = run_import(gallery, source, manifest=manifest, options=options,
                            engine=engine_spec(detector, jitters), cancel=cancel,
                            user_id=user_id)
        try:
            for ev in events:
                progress(ev)
                final = ev
        except KeyboardInterrupt:
            cancel.cancel()
            events.close()
            click.echo("\ncancelled: what was imported so far is kept; run the same "
                       "command again to resume", err=True)
            run = gallery.last_run()
            if as_json and run is not None:
                emit_json({"gallery": str(db), "run": run, "status": "cancelled"})
            sys.exit(EXIT_CANCELLED)
        assert final is not None
        summary = final.summary()
        totals = gallery.counts()
    if user_id is None and not quiet:
        click.echo(f"note: {first_admin_hint(db)}; until then anyone may import into it "
                   "and nobody can search it", err=True)
    if as_json:
        emit_json({"gallery": str(db), **summary, "gallery_totals": totals})
        return
    c = final.counts
    click.echo(f"import {final.status} in {_duration(final.elapsed_s)} "
               f"({final.rate:.1f} photos/s) into {db}")
    click.echo(f"  items in source   {c.total}")
    click.echo(f"  newly stored      {c.imported}  (no face: {c.no_face}, "
               f"several faces, subject kept: {c.multi_face})")
    click.echo(f"  already stored    {c.already_stored}")
    click.echo(f"  duplicates        {c.duplicates}")
    click.echo(f"  failed            {c.failed}")
    click.echo(f"gallery now: {totals['persons']} persons, {totals['photos']} photos, "
               f"{totals['faces']} faces")
    shown = [p for p in final.problems if p.code != "no_face"][:50]
    if shown:
        click.echo("problems:")
        for p in shown:
            click.echo(f"  {printable(p.path)}: {printable(p.reason)}")
        hidden = len([p for p in final.problems if p.code != "no_face"]) - len(shown)
        if hidden > 0:
            click.echo(f"  ... and {hidden} more (--json lists them all)")


# --- search ---------------------------------------------------------------------------------


def _face_choice(value: str) -> int | str:
    if value == "largest":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("must be a face number (0, 1, ...) or 'largest'") from None


@cli.command()
@click.argument("probes", nargs=-1, type=click.Path(path_type=Path))
@db_option
@click.option("--probes", "probe_list", type=click.Path(path_type=Path, dir_okay=False),
              help="A CSV whose 'path' column names the probe photos (relative to the CSV), "
                   "searched one after the other as with several PROBE arguments.")
@click.option("--case", "case_number", required=True, metavar="NUMBER",
              help="The open case this search is made for (facedesk case open); the search "
                   "is recorded in it.")
@user_option
@click.option("--top", "top_k", type=click.IntRange(1, 1000), default=DEFAULT_TOP_K,
              show_default=True,
              help="Show at most this many candidate persons (no more than the "
                   "administrator's top_k, and only those within the threshold: facedesk "
                   "settings show).")
@click.option("--face", default="largest", show_default=True,
              help="Which probe face to search: its number, or 'largest'.")
@click.option("--box", help="Search the face in this box (top,right,bottom,left) when "
                            "detection finds none.")
@upsample_option(1)
@click.option("--detect-max-side", type=click.IntRange(0, 20000), default=2048,
              show_default=True, help="Detect on a copy at most this many pixels long.")
@detector_option
@jitters_option
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
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON: one object for one PROBE, a list of objects "
                   "(one per probe, in order) for several or --probes.")
@click.option("--quiet", is_flag=True, help="No progress on stderr (video clips).")
@user_errors
def search(probes: tuple[Path, ...], db: Path, probe_list: Path | None, case_number: str,
           user: str | None, top_k: int, face: str, box: str | None, upsample: int,
           detect_max_side: int, detector: str, jitters: int, track: int | None,
           frame: int | None, at: str | None, fuse: bool | None, rotate: str,
           brightness: float, contrast: float, as_json: bool, quiet: bool) -> None:
    """Search the face in each PROBE against every face of the gallery, for an open case;
    list the candidate persons shown (within the administrator's threshold and top_k), one
    row per person, closest first. Each probe is its own search, recorded in the case and
    the audit log with the probe image. A probe that cannot be searched is reported in one
    line and the others go on; the exit code is 1 if any could not be searched.

    A PROBE may be a video clip (recognised by its content, not its name): its faces are
    followed and a track's best frame or fused template is searched, or one frame
    (--frame, --at); the clip's SHA-256, the frames used and their PNGs are recorded."""
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
        case = open_case_of(gallery, case_number)
        engine = engine_spec(detector, jitters).create()
        searcher = Searcher(gallery, engine.identity())
        searcher.check_engine(searcher.index())  # refuse before the slow part
        detect = DetectOptions(upsample=upsample, max_side=detect_max_side)
        for i, probe in enumerate(paths):
            if i and not as_json:
                click.echo("")
            try:
                doc = _search_probe(probe, db, session, case, engine, searcher, detect,
                                    choice, drawn, top_k, as_json, clip)
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
                  as_json: bool, clip: _ClipChoice) -> dict[str, Any]:
    """Search one probe (a photo, or a clip's track or frame) and record it in the case;
    print it (not with --json) and return its JSON document."""
    provenance: dict[str, Any] | None = None
    frame_pngs: list[bytes] = []
    if clips.looks_like_clip(probe):
        cp = clip_probe(engine, probe, track=clip.track, frame=clip.frame, at=clip.at,
                        fuse=clip.fuse, rotate=clip.rotate, brightness=clip.brightness,
                        contrast=clip.contrast,
                        options=TrackOptions(upsample=max(detect.upsample, 1)),
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
                               frame_pngs=frame_pngs)
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
        for line in provenance_lines(provenance):
            click.echo(line)
        which = "the fused template" if provenance["fused"] else "its face"
    q = chosen.quality
    click.echo(f"probe {printable(str(probe))}: {n} face{'s' if n != 1 else ''} found; "
               f"searched {which} "
               f"({q.size_px} px, eyes {q.eye_distance_px:.0f} px apart, "
               f"yaw {q.yaw_deg:+.0f}°)")
    click.echo(f"searched {result.persons_searched} persons ({result.faces_searched} faces) "
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


# --- info -----------------------------------------------------------------------------------


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@user_errors
def info(db: Path, as_json: bool) -> None:
    """Summarise a gallery: persons, photos, faces, engine and the last import."""
    with Gallery.open(db) as gallery:
        summary = gallery.summary()
    if as_json:
        emit_json(summary)
        return
    click.echo(f"gallery {summary['path']} (id {summary['gallery_id'][:8]}, "
               f"version {summary['version']})")
    click.echo(f"  persons  {summary['persons']}")
    click.echo(f"  photos   {summary['photos']}  (without a face: "
               f"{summary['photos_without_face']}, with several: "
               f"{summary['photos_with_several_faces']})")
    click.echo(f"  faces    {summary['faces']}")
    for e in summary["engines"]:
        ident = e["identity"] or {}
        click.echo(f"  engine   {e['id']}: {ident.get('engine')} {ident.get('dlib')}")
    last = summary["last_import"]
    if last:
        click.echo(f"  last import #{last['id']} {last['status']} {last['started_at']}: "
                   f"{last['imported']} new, {last['already_stored']} already stored, "
                   f"{last['failed']} failed ({printable(last['source'])})")


# --- verify ---------------------------------------------------------------------------------


@cli.command()
@db_option
@click.option("--look-in", "look_in", multiple=True,
              type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="A folder to search for originals that are no longer at their recorded "
                   "path (repeat the option for several); found ones are reported as moved.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@user_option
@user_errors
def verify(db: Path, look_in: tuple[Path, ...], as_json: bool, quiet: bool,
           user: str | None) -> None:
    """Re-verify every original photo of a gallery: still at its recorded path, with the
    same SHA-256. Reports missing, moved, changed and unreadable originals; exit code 1
    if there is any. Reads only: nothing is changed."""
    cancel = CancelToken()
    final: VerifyProgress | None = None
    last = 0.0
    with Gallery.open(db) as gallery:
        lab_signed_in(gallery, user, "verify", look_in=[str(p) for p in look_in])
        events = verify_originals(gallery, look_in=look_in, cancel=cancel)
        try:
            for ev in events:
                final = ev
                now = time.monotonic()
                if not quiet and ev.phase != "finished" and now - last >= (
                        0.2 if sys.stderr.isatty() else 5.0):
                    last = now
                    text = (f"{ev.done}/{ev.total} originals checked ({ev.rate:.0f}/s), "
                            f"{ev.done - ev.counts['ok']} with a problem")
                    if ev.phase == "searching":
                        text = f"looking for moved originals: {printable(ev.current)}"
                    click.echo(text, err=True)
        except KeyboardInterrupt:
            cancel.cancel()
            events.close()
            click.echo("\ncancelled: nothing was changed", err=True)
            sys.exit(EXIT_CANCELLED)
    assert final is not None
    if as_json:
        emit_json({"gallery": str(db), **final.summary()})
    else:
        c = final.counts
        click.echo(f"verified {final.done} of {final.total} originals in "
                   f"{_duration(final.elapsed_s)}: {c['ok']} as imported, {c['missing']} "
                   f"missing, {c['moved']} moved, {c['changed']} changed, "
                   f"{c['unreadable']} unreadable")
        for p in final.problems[:50]:
            where = f" -> now at {printable(p.found_at)}" if p.found_at else ""
            click.echo(f"  {p.status:<10} {printable(p.person_id)}: {printable(p.path)}"
                       f"{where} ({p.detail})")
        if len(final.problems) > 50:
            click.echo(f"  ... and {len(final.problems) - 50} more (--json lists them all)")
    if final.status == "cancelled":
        sys.exit(EXIT_CANCELLED)
    if final.problems:
        sys.exit(EXIT_USER_ERROR)


# --- the accuracy lab (cli/lab_commands.py) and accountability (cli/case_commands.py) --------


def _register(command: click.Command) -> None:
    """Give `command` (and every sub-command of a group) one-line user errors."""
    if command.callback is not None:
        command.callback = user_errors(command.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _register(sub)


for _command in [*COMMANDS, *CASE_COMMANDS, *BACKUP_COMMANDS,
                 frames_command(lambda: engine_spec("hog", 0).create())]:
    _register(_command)
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="facedesk")


if __name__ == "__main__":
    main()
