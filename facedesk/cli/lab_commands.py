"""The accuracy lab's commands: evaluate, experiment, calibrate, report.

Measurements on the data at hand, not a bare percentage: every rate comes with the number
of pairs or probes behind it and its 95 % interval.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from facedesk.app import accounts
from facedesk.app import calibration as calibrations
from facedesk.app.experiment import (
    DEFAULT_RANKS,
    ExperimentOptions,
    ExperimentProgress,
    ExperimentResult,
    run_experiment,
)
from facedesk.app.outside_probes import (
    OutsideOptions,
    OutsideProgress,
    OutsideResult,
    calibration_from,
    run_outside,
)
from facedesk.cli.case_commands import printable, signed_in, user_option
from facedesk.domain import evaluation
from facedesk.domain.formatting import percent as _pct
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.errors import EvaluationError
from facedesk.store import Gallery

if TYPE_CHECKING:  # lab pulls in matplotlib: imported by the commands that draw
    from facedesk.app import lab

DEFAULT_THRESHOLDS = evaluation.DEFAULT_THRESHOLDS


def _emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _echo(text: str) -> None:
    """A line for the terminal, with group names and person ids (metadata) escaped."""
    click.echo(printable(text))


def _rate(r: evaluation.Rate) -> str:
    lo, hi = r.interval
    return f"{_pct(r.value):>7} [{_pct(lo)}, {_pct(hi)}]  ({r.k:,}/{r.n:,})"


def _sci(r: evaluation.Rate) -> str:
    lo, hi = r.interval
    return f"{r.value:.2e} [{lo:.1e}, {hi:.1e}] ({r.k:,}/{r.n:,})"


def parse_thresholds(values: Sequence[float]) -> tuple[float, ...]:
    out = tuple(sorted(set(values))) or DEFAULT_THRESHOLDS
    if any(not 0.0 < t < 1.6 for t in out):
        raise click.BadParameter("thresholds are distances between 0 and 1.6")
    return out


thresholds_option = click.option(
    "--threshold", "thresholds", type=float, multiple=True,
    help="Distance threshold(s) to report at; repeat for several (default 0.4 0.5 0.6; "
         "0.6 is face_recognition's default tolerance).")
group_option = click.option(
    "--group", "group_key", metavar="COLUMN",
    help="A photo metadata column (e.g. sex) to report every figure per group.")
report_option = click.option(
    "--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
    help="Also write an HTML report with the plots.")
plots_option = click.option(
    "--plots", "plots_dir", type=click.Path(path_type=Path, file_okay=False),
    help="Also write each plot as PNG and SVG into this folder.")


def lab_signed_in(gallery: Gallery, user: str | None, command: str,
                  **options: Any) -> None:
    """On a gallery with users, the lab's commands sign in like every other command, check
    the role may use the lab and log the use (audit kind "lab": the command, its options
    and the files it writes). A gallery without users is a plain dataset: nothing to do."""
    if not accounts.has_users(gallery):
        return
    session = signed_in(gallery, user)
    session.record_lab(command, {k: (str(v) if isinstance(v, Path) else v)
                                 for k, v in options.items() if v not in (None, (), False)})


def _check_group(gallery: Gallery, group_key: str | None) -> None:
    if group_key and group_key not in (keys := gallery.metadata_keys()):
        raise EvaluationError(f"{gallery.path}: no photo has a metadata column '{group_key}' "
                              f"(it has: {', '.join(keys) or 'none'})")


def _resolve_pairs(gallery: Gallery, pairs: list[evaluation.PairSpec], images: Path
                   ) -> dict[str, Any]:
    root = Path(os.path.abspath(images))
    wanted = {rel: str(root / rel) for p in pairs for rel in (p.a, p.b)}
    stored = gallery.encodings_by_path(list(wanted.values()))
    missing = [rel for rel, path in wanted.items() if path not in stored]
    if missing:
        raise EvaluationError(
            f"{len(missing):,} of the {len(wanted):,} photos named by the pairs are not in "
            f"{gallery.path} (e.g. {root / missing[0]}); import them first: "
            f"facedesk import {images} --db {gallery.path}")
    return {rel: stored[path] for rel, path in wanted.items()}


# --- evaluate -------------------------------------------------------------------------------


@click.command()
@click.option("--db", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A labelled gallery (persons known).")
@click.option("--pairs", "pairs_file", type=click.Path(path_type=Path, dir_okay=False),
              help="LFW-format pairs file (e.g. pairs.txt): accuracy with its folds "
                   "(10-fold protocol for pairs.txt). Without it: every pair of the gallery.")
@click.option("--images", type=click.Path(path_type=Path, file_okay=False),
              help="With --pairs: the folder the pairs' photos are in (already imported "
                   "into --db).")
@thresholds_option
@group_option
@report_option
@plots_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_option
def evaluate(db: Path, pairs_file: Path | None, images: Path | None,
             thresholds: tuple[float, ...], group_key: str | None, report_path: Path | None,
             plots_dir: Path | None, as_json: bool, user: str | None) -> None:
    """Measure verification accuracy on labelled data: genuine and impostor distances,
    FMR and FNMR at thresholds, accuracy on LFW-style pairs, per group."""
    from facedesk.app import lab

    ts = parse_thresholds(thresholds)
    with Gallery.open(db) as gallery:
        lab_signed_in(gallery, user, "evaluate", pairs=pairs_file, group=group_key,
                      thresholds=list(ts), report=report_path, plots=plots_dir)
        if pairs_file is not None:
            if images is None:
                raise click.UsageError("--pairs needs --images (the photos' folder)")
            pairs = evaluation.read_pairs(pairs_file)
            scores = evaluation.score_pairs(pairs, _resolve_pairs(gallery, pairs, images))
            result: lab.Evaluation = lab.evaluate_pairs(scores, pairs_file)
        else:
            _check_group(gallery, group_key)
            result = lab.evaluate_gallery(gallery, group_key)
    figures = lab.evaluation_figures(result, ts)
    _write_outputs(figures, report_path, plots_dir,
                   lambda rep: lab.add_evaluation(rep, result, ts, figures))
    if as_json:
        _emit_json(result.summary(ts))
        return
    _print_evaluation(result, ts)


def _print_evaluation(result: lab.Evaluation, ts: Sequence[float]) -> None:
    dist = result.distributions
    _echo(f"{result.title}")
    _echo(f"  genuine pairs (same person)      {dist.genuine_pairs:,}")
    _echo(f"  impostor pairs (different persons) {dist.impostor_pairs:,}")
    folded = result.folded
    if folded is not None:
        _echo(f"accuracy, {len(folded.folds)}-fold protocol: {_pct(folded.mean)} "
                   f"± {_pct(folded.std)} (std over folds); {folded.lost_pairs} of "
                   f"{folded.pairs:,} pairs lost (no face found), counted as errors")
        if folded.lost_pairs:
            _echo(f"  other readings of the lost pairs: left out "
                       f"{_pct(folded.mean_of('accuracy_found'))}; answered 'not the same "
                       f"person' {_pct(folded.mean_of('accuracy_lost_as_different'))}")
        _echo("  thresholds chosen per fold: "
                   + " ".join(f"{f.threshold:.3f}" for f in folded.folds))
    eer = dist.equal_error()
    if eer is not None:
        _echo(f"equal error rate {_pct(eer[1])} at distance {eer[0]:.3f}")
    else:
        _echo("no repeat photos of a person, so no genuine pairs: FMR only")
    _echo(f"{'threshold':>9}  {'FMR (impostor pairs at or under)':<44}  "
               "FNMR (genuine pairs over)")
    for t in ts:
        fnmr = _rate(dist.fnmr(t)) if dist.genuine_pairs else "-"
        _echo(f"{t:>9.3f}  {_sci(dist.fmr(t)):<44}  {fnmr}")
    for t in ts:
        rows = result.groups_at(t)
        if not rows:
            continue
        _echo(f"per {result.group_key} at distance <= {t}:")
        for g in rows:
            _echo(f"  {g['group']:<16} {g['persons']:>6,} persons  FMR {_sci(g['fmr'])}"
                       f"  FNMR {_rate(g['fnmr']) if g['fnmr'].n else 'no repeat photos'}")
        ratio = result.group_ratio(t)
        if ratio:
            _echo(f"  FMR {ratio['text']}")


# --- experiment -----------------------------------------------------------------------------


probes_option = click.option(
    "--probes", "probes", type=click.Path(path_type=Path, exists=True),
    help="Outside probes: a folder (a sub-folder per person) or a CSV manifest (path, "
         "person_id, other columns for --group) of photos NOT in the gallery, searched "
         "against the whole gallery; a probe whose person_id is a gallery person's is "
         "in-gallery, and its own person is left out when counting false candidates.")


def probe_engine() -> EngineSpec:
    """The engine that encodes outside probes (the tests put the fake engine here)."""
    return EngineSpec()


def run_probe_set(gallery: Gallery, probes: Path, options: OutsideOptions,
                  quiet: bool) -> OutsideResult:
    """Encode and search an outside probe set with progress on stderr and Ctrl-C."""
    cancel = CancelToken()
    final: OutsideProgress | None = None
    events = run_outside(gallery, probes, probe_engine(), options, cancel)
    tty = sys.stderr.isatty() and not quiet
    try:
        for final in events:
            if final.phase in ("encoding", "searching") and tty:
                click.echo(f"\r{final.phase} {final.done:,}/{final.total:,} probes"
                           .ljust(40), err=True, nl=False)
    except KeyboardInterrupt:
        cancel.cancel()
        events.close()
        click.echo("\ncancelled", err=True)
        sys.exit(130)
    if tty:
        click.echo("", err=True)
    assert final is not None and final.result is not None
    return final.result


@click.command()
@click.option("--db", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A labelled gallery to split into a gallery and probes (or, with "
                   "--probes, to search outside probes against).")
@probes_option
@thresholds_option
@click.option("--group", "group_key", metavar="COLUMN",
              help="A photo metadata column (e.g. sex) to report every figure per group "
                   "(with --probes: a column of the probe manifest).")
@click.option("--probe-share", type=click.FloatRange(0.01, 0.99), default=0.5,
              show_default=True, help="Share of the persons held out as probes NOT in the "
                                      "gallery (without --probes).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random split (same seed, same split).")
@click.option("--sizes", help="Gallery sizes (persons) to re-count at, e.g. 10,100,1000 "
                              "(default: about 8 from 10 to all).")
@click.option("--no-mated", is_flag=True,
              help="Do not hold out in-gallery probes (rank-K hit rates).")
@report_option
@plots_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_option
def experiment(db: Path, probes: Path | None, thresholds: tuple[float, ...],
               group_key: str | None, probe_share: float, seed: int, sizes: str | None,
               no_mated: bool, report_path: Path | None, plots_dir: Path | None,
               as_json: bool, user: str | None) -> None:
    """The false-positive experiment: search probes of persons who are NOT in the gallery
    and count how many still get a candidate under each threshold. Without --probes, a
    share of the gallery's persons is held out as the probes; with --probes, an outside
    probe set is searched against the whole gallery (the ACLU test), with what FaceDesk
    predicts for each probe against what is observed."""
    from facedesk.app import lab

    ts = parse_thresholds(thresholds)
    try:
        size_list = tuple(int(s) for s in sizes.split(",")) if sizes else None
    except ValueError:
        raise click.BadParameter("--sizes takes numbers separated by commas") from None
    options = ExperimentOptions(probe_share=probe_share, mated_probes=not no_mated,
                                seed=seed, group_key=group_key, gallery_sizes=size_list)
    with Gallery.open(db) as gallery:
        lab_signed_in(gallery, user, "experiment", probes=probes, group=group_key,
                      thresholds=list(ts), seed=seed, probe_share=probe_share,
                      report=report_path, plots=plots_dir)
        if probes is not None:
            result: ExperimentResult = run_probe_set(gallery, probes, OutsideOptions(
                group_key=group_key, gallery_sizes=size_list, seed=seed), as_json)
        else:
            _check_group(gallery, group_key)
            result = _split_experiment(gallery, options, as_json)
        crops = lab.worst_crops(gallery, result)
    figures = lab.experiment_figures(result, ts)
    _write_outputs(figures, report_path, plots_dir,
                   lambda rep: lab.add_experiment(rep, result, ts, figures, crops))
    if as_json:
        _emit_json(result.summary(ts))
    elif isinstance(result, OutsideResult):
        _print_outside(result, ts)
    else:
        _print_experiment(result, ts)


def _split_experiment(gallery: Gallery, options: ExperimentOptions,
                      as_json: bool) -> ExperimentResult:
    cancel = CancelToken()
    final: ExperimentProgress | None = None
    events = run_experiment(gallery, options, cancel)
    try:
        for final in events:
            if final.phase == "searching" and not as_json and sys.stderr.isatty():
                click.echo(f"\rsearched {final.done:,}/{final.total:,} probes", err=True,
                           nl=False)
    except KeyboardInterrupt:
        cancel.cancel()
        events.close()
        click.echo("\ncancelled", err=True)
        sys.exit(130)
    assert final is not None and final.result is not None
    if sys.stderr.isatty() and not as_json:
        click.echo("", err=True)
    return final.result


def _print_experiment(r: ExperimentResult, ts: Sequence[float]) -> None:
    _echo(f"gallery: {r.gallery_persons:,} persons ({r.gallery_faces:,} photos); "
               f"probes NOT in the gallery: {r.oog_probes:,}; in-gallery probes: "
               f"{r.mated_probes:,} (seed {r.options.seed})")
    _echo(f"{'threshold':>9}  {'probes NOT in gallery with a false candidate':<46}  "
               "false candidates per probe")
    for t in ts:
        _echo(f"{t:>9.3f}  {_rate(r.fpir(t)):<46}  {r.mean_candidates(t):.2f}")
    _echo("as the gallery grows (share of out-of-gallery probes with a false "
               "candidate):")
    _echo(f"{'persons':>9}  " + "  ".join(f"{'<= ' + str(t):>8}" for t in ts))
    by_size = {t: r.fpir_by_size(t) for t in ts}
    for i, s in enumerate(r.sizes):
        _echo(f"{int(s):>9,}  " + "  ".join(f"{_pct(by_size[t][i].value):>8}"
                                                  for t in ts))
    if r.oog_groups is not None:
        for t in ts:
            _echo(f"per {r.group_key} at distance <= {t}:")
            for g in r.by_group(t):
                gallery = f"  (gallery: {g['gallery_persons']:,} persons of this group)" \
                    if r.gallery_groups else ""
                _echo(f"  {g['group']:<16} {g['probes']:>6,} probes  {_rate(g['fpir'])}"
                      f"  {g['mean_candidates']:.2f} per probe{gallery}")
            ratio = r.group_ratio(t)
            if ratio:
                _echo(f"  {ratio['text']}")
    if r.mated_probes:
        _echo("in-gallery probes, own person among the first k candidates: " + ", ".join(
            f"rank-{k} {_pct(r.rank_hit(k).value)}" for k in DEFAULT_RANKS))
        _echo("  own person at or under the threshold: " + ", ".join(
            f"{t}: {_pct(r.mated_within(t).value)}" for t in ts))
    if r.worst:
        _echo("closest false candidates (different persons):")
        for w in r.worst[:5]:
            _echo(f"  {w.distance:.4f}  probe {w.probe_person}  candidate "
                       f"{w.candidate_person}")


def _print_outside(r: OutsideResult, ts: Sequence[float]) -> None:
    ps = r.probe_set
    _echo(f"outside probes {ps['source']}: {r.oog_probes:,} searched "
               f"({int(r.in_gallery.sum()):,} of persons in the gallery), {len(r.problems):,}"
               f" left out; set {ps['hash'][:12]}")
    for p in r.problems[:10]:
        _echo(f"  left out {p.path}: {p.reason}")
    if len(r.problems) > 10:
        _echo(f"  ... and {len(r.problems) - 10} more (--json lists them all)")
    _echo("every probe's own person is left out when counting false candidates")
    _print_experiment(r, ts)
    _echo("false candidates per probe: predicted (as a search computes it, without "
               "the labels) against observed")
    _echo(f"{'threshold':>9}  {'group':<16} {'probes':>6}  {'observed':>8}  "
               + "  ".join(r.predictions))
    for t, group, probes, observed, *cells in r.prediction_table(ts):
        _echo(f"{t:>9}  {group:<16} {probes:>6}  {observed:>8}  " + "  ".join(cells))
    for n, why in r.prediction_notes.items():
        _echo(f"  {n}: not available ({why})")


# --- calibrate ------------------------------------------------------------------------------


@click.command()
@click.option("--db", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The gallery whose searches the calibration serves.")
@click.option("--reference", type=click.Path(path_type=Path, dir_okay=False),
              help="Measure on this other labelled gallery (same engine) instead of on "
                   "--db's own repeat photos.")
@click.option("--probes", "probes", type=click.Path(path_type=Path, exists=True),
              help="Measure from these outside probes (a CSV manifest or a folder per "
                   "person, photos NOT in the gallery) searched against the whole gallery, "
                   "each probe's own person left out: the agency's own reference for probes "
                   "of that kind, kept with the probe set's hash, size, date and the "
                   "gallery version.")
@click.option("--use", "use_id", metavar="ID|shipped",
              help="Put a stored calibration in use (or 'shipped': the LFW reference).")
@click.option("--list", "list_only", is_flag=True, help="List the stored calibrations.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@user_option
def calibrate(db: Path, reference: Path | None, probes: Path | None, use_id: str | None,
              list_only: bool, as_json: bool, user: str | None) -> None:
    """Measure the distance -> false match rate table on labelled photos, keep it in the
    gallery and put it in use: by default on the gallery's own repeat photos. The
    calibration in use is a setting: once the gallery has users, measuring or --use signs
    in, as an administrator, and the change is an audit event."""
    if reference is not None and probes is not None:
        raise click.UsageError("--reference and --probes are two ways to measure: give one")
    with Gallery.open(db) as gallery:
        session = None
        if (use_id is not None or not list_only) and accounts.has_users(gallery):
            session = signed_in(gallery, user, "change_settings")
        if use_id is not None:
            try:
                chosen = None if use_id == "shipped" else int(use_id)
            except ValueError:
                raise EvaluationError(f"{db}: no stored calibration '{use_id}' (see "
                                      f"facedesk calibrate --db {db} --list)") from None
            calibrations.use(gallery, chosen, session=session)
        elif not list_only:
            if probes is not None:
                cal = calibration_from(run_probe_set(gallery, probes, OutsideOptions(),
                                                     as_json), gallery)
                calibrations.store(gallery, cal, "reference", session=session)
            else:
                for _ in calibrations.calibrate(gallery, reference_path=reference,
                                                session=session):
                    pass
        stored = [c.as_dict() for c in calibrations.stored(gallery)]
        current = calibrations.in_use(gallery)
    doc = {"in_use": None if current is None else current.source, "stored": stored}
    if as_json:
        _emit_json(doc)
        return
    click.echo(f"in use: {doc['in_use'] or 'none for this engine'}")
    for c in stored:
        mark = "*" if c["in_use"] else " "
        click.echo(f" {mark} #{c['id']} {c['kind']:<9} {c['created_at']}  "
                   f"{c['impostor_pairs']:,} impostor / {c['genuine_pairs']:,} genuine pairs"
                   f"  {c['source']}")
    if current is not None:
        for t in DEFAULT_THRESHOLDS:
            r = current.reading(t)
            click.echo(f"  distance <= {t}: FMR {r.fmr:.2e} [{r.fmr_low:.1e}, "
                       f"{r.fmr_high:.1e}], FNMR {current.fnmr(t):.3f}")


# --- report ---------------------------------------------------------------------------------


@click.command()
@click.option("--db", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A labelled gallery.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The HTML report to write.")
@click.option("--pairs", "pairs_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Also evaluate these LFW-format pairs (needs --images).")
@click.option("--images", type=click.Path(path_type=Path, file_okay=False))
@probes_option
@thresholds_option
@group_option
@click.option("--probe-group", metavar="COLUMN",
              help="With --probes: a probe-manifest column for per-group figures.")
@click.option("--seed", type=int, default=0, show_default=True)
@user_option
def report(db: Path, out: Path, pairs_file: Path | None, images: Path | None,
           probes: Path | None, thresholds: tuple[float, ...], group_key: str | None,
           probe_group: str | None, seed: int, user: str | None) -> None:
    """Write one HTML report: error rates, DET curve, the false-positive experiment,
    per-group figures and the closest false candidates side by side; with --probes, also
    the outside probe set searched against the whole gallery, predicted against observed."""
    from facedesk.app import lab

    ts = parse_thresholds(thresholds)
    rep = lab.new_report(db)
    with Gallery.open(db) as gallery:
        lab_signed_in(gallery, user, "report", out=out, pairs=pairs_file, group=group_key,
                      probes=probes, probe_group=probe_group, thresholds=list(ts), seed=seed)
        _check_group(gallery, group_key)
        evals: list[lab.Evaluation] = [lab.evaluate_gallery(gallery, group_key)]
        if pairs_file is not None:
            if images is None:
                raise click.UsageError("--pairs needs --images (the photos' folder)")
            pairs = evaluation.read_pairs(pairs_file)
            evals.append(lab.evaluate_pairs(
                evaluation.score_pairs(pairs, _resolve_pairs(gallery, pairs, images)),
                pairs_file))
        result = None
        for ev in run_experiment(gallery, ExperimentOptions(seed=seed, group_key=group_key)):
            result = ev.result
        assert result is not None
        crops = lab.worst_crops(gallery, result)
        outside = None if probes is None else run_probe_set(
            gallery, probes, OutsideOptions(group_key=probe_group, seed=seed), False)
        outside_crops = [] if outside is None else lab.worst_crops(gallery, outside)
    for ev_result in evals:
        lab.add_evaluation(rep, ev_result, ts, lab.evaluation_figures(ev_result, ts))
    lab.add_experiment(rep, result, ts, lab.experiment_figures(result, ts), crops)
    if outside is not None:
        lab.add_experiment(rep, outside, ts, lab.experiment_figures(outside, ts),
                           outside_crops)
    rep.write(out)
    click.echo(f"report written to {out}")


def _write_outputs(figures: dict[str, Any], report_path: Path | None, plots_dir: Path | None,
                   fill: Any) -> None:
    from facedesk.app import lab

    if plots_dir is not None:
        written = lab.save_figures(figures, plots_dir)
        click.echo(f"{len(written)} plot files written to {plots_dir}", err=True)
    if report_path is not None:
        rep = lab.new_report(report_path)
        fill(rep)
        rep.write(report_path)
        click.echo(f"report written to {report_path}", err=True)


COMMANDS = (evaluate, experiment, calibrate, report)
