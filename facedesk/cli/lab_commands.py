"""The accuracy lab's commands: evaluate, experiment, calibrate, report.

Measurements on the data at hand, not a bare percentage: every rate comes with the number
of pairs or probes behind it and its 95 % interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from facedesk.app import calibration as calibrations
from facedesk.app import outside_probes
from facedesk.app.experiment import (
    DEFAULT_RANKS,
    ExperimentOptions,
    ExperimentProgress,
    ExperimentResult,
    run_experiment,
)
from facedesk.cli.options import GalleryLocation, db_option, json_option, user_option
from facedesk.cli.output import echo, emit_json
from facedesk.cli.progress import StatusLine, run
from facedesk.cli.signin import lab_signed_in, signed_in_if_staffed
from facedesk.domain import evaluation
from facedesk.domain.formatting import percent, rate_scientific, rate_with_interval
from facedesk.engine.spec import EngineSpec
from facedesk.errors import EvaluationError
from facedesk.store import Gallery

if TYPE_CHECKING:  # lab pulls in matplotlib: imported by the commands that draw
    from facedesk.app import lab

DEFAULT_THRESHOLDS = evaluation.DEFAULT_THRESHOLDS


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


# --- evaluate -------------------------------------------------------------------------------


@click.command()
@db_option("A labelled gallery (persons known).")
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
@json_option("Print the figures as JSON.")
@user_option()
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
            result: lab.Evaluation = lab.evaluate_pairs_file(gallery, pairs_file, images)
        else:
            lab.check_group(gallery, group_key)
            result = _evaluate_gallery(gallery, group_key, as_json)
    figures = lab.evaluation_figures(result, ts)
    _write_outputs(figures, report_path, plots_dir,
                   lambda rep: lab.add_evaluation(rep, result, ts, figures))
    if as_json:
        emit_json(result.summary(ts))
        return
    _print_evaluation(result, ts)


def _print_evaluation(result: lab.Evaluation, ts: Sequence[float]) -> None:
    dist = result.distributions
    echo(f"{result.title}")
    echo(f"  genuine pairs (same person)      {dist.genuine_pairs:,}")
    echo(f"  impostor pairs (different persons) {dist.impostor_pairs:,}")
    folded = result.folded
    if folded is not None:
        echo(f"accuracy, {len(folded.folds)}-fold protocol: {percent(folded.mean)} "
             f"± {percent(folded.std)} (std over folds); {folded.lost_pairs} of "
             f"{folded.pairs:,} pairs lost (no face found), counted as errors")
        if folded.lost_pairs:
            echo(f"  other readings of the lost pairs: left out "
                 f"{percent(folded.mean_of('accuracy_found'))}; answered 'not the same "
                 f"person' {percent(folded.mean_of('accuracy_lost_as_different'))}")
        echo("  thresholds chosen per fold: "
             + " ".join(f"{f.threshold:.3f}" for f in folded.folds))
    eer = dist.equal_error()
    if eer is not None:
        echo(f"equal error rate {percent(eer[1])} at distance {eer[0]:.3f}")
    else:
        echo("no repeat photos of a person, so no genuine pairs: FMR only")
    echo(f"{'threshold':>9}  {'FMR (impostor pairs at or under)':<44}  "
         "FNMR (genuine pairs over)")
    for t in ts:
        fnmr = rate_with_interval(dist.fnmr(t)) if dist.genuine_pairs else "-"
        echo(f"{t:>9.3f}  {rate_scientific(dist.fmr(t)):<44}  {fnmr}")
    for t in ts:
        rows = result.groups_at(t)
        if not rows:
            continue
        echo(f"per {result.group_key} at distance <= {t}:")
        for g in rows:
            fnmr = rate_with_interval(g["fnmr"]) if g["fnmr"].n else "no repeat photos"
            echo(f"  {g['group']:<16} {g['persons']:>6,} persons  "
                 f"FMR {rate_scientific(g['fmr'])}  FNMR {fnmr}")
        ratio = result.group_ratio(t)
        if ratio:
            echo(f"  FMR {ratio['text']}")


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


def run_probe_set(gallery: Gallery, probes: Path,
                  outside_options: outside_probes.OutsideOptions, quiet: bool
                  ) -> outside_probes.OutsideResult:
    """Encode and search an outside probe set with progress on stderr and Ctrl-C."""
    line = StatusLine(quiet, width=40, throttle=False, tty_only=True)

    def show(ev: outside_probes.OutsideProgress) -> None:
        if ev.phase in ("encoding", "searching"):
            line.show(f"{ev.phase} {ev.done:,}/{ev.total:,} probes")

    final = run(lambda cancel: outside_probes.run_outside(
        gallery, probes, probe_engine(), outside_options, cancel), show=show)
    line.end()
    assert final.result is not None
    return final.result


def _evaluate_gallery(gallery: Gallery, group_key: str | None, quiet: bool
                      ) -> lab.Evaluation:
    """Every pair of the gallery, with progress on stderr and Ctrl-C."""
    from facedesk.app import lab

    line = StatusLine(quiet, width=0, throttle=False, tty_only=True)

    def show(ev: lab.EvaluateProgress) -> None:
        if ev.phase == "pairs":
            line.show(f"measuring every pair: {ev.done:,}/{ev.total:,} blocks")

    final = run(lambda cancel: lab.evaluate_gallery_steps(gallery, group_key, cancel),
                show=show, stopped=lambda ev: ev.result is None)
    line.end()
    assert final.result is not None
    return final.result


@click.command()
@db_option("A labelled gallery to split into a gallery and probes (or, with "
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
@json_option("Print the figures as JSON.")
@user_option()
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
            result: ExperimentResult = run_probe_set(
                gallery, probes, outside_probes.OutsideOptions(
                    group_key=group_key, gallery_sizes=size_list, seed=seed), as_json)
        else:
            lab.check_group(gallery, group_key)
            result = _split_experiment(gallery, options, as_json)
        crops = lab.worst_crops(gallery, result)
    figures = lab.experiment_figures(result, ts)
    _write_outputs(figures, report_path, plots_dir,
                   lambda rep: lab.add_experiment(rep, result, ts, figures, crops))
    if as_json:
        emit_json(result.summary(ts))
    elif isinstance(result, outside_probes.OutsideResult):
        _print_outside(result, ts)
    else:
        _print_experiment(result, ts)


def _split_experiment(gallery: Gallery, experiment_options: ExperimentOptions,
                      quiet: bool) -> ExperimentResult:
    """The experiment on a split of the gallery, with progress on stderr and Ctrl-C."""
    line = StatusLine(quiet, width=0, throttle=False, tty_only=True)

    def show(ev: ExperimentProgress) -> None:
        if ev.phase == "searching":
            line.show(f"searched {ev.done:,}/{ev.total:,} probes")

    final = run(lambda cancel: run_experiment(gallery, experiment_options, cancel), show=show)
    line.end()
    assert final.result is not None
    return final.result


def _print_experiment(r: ExperimentResult, ts: Sequence[float]) -> None:
    echo(f"gallery: {r.gallery_persons:,} persons ({r.gallery_faces:,} photos); "
         f"probes NOT in the gallery: {r.oog_probes:,}; in-gallery probes: "
         f"{r.mated_probes:,} (seed {r.options.seed})")
    echo(f"{'threshold':>9}  {'probes NOT in gallery with a false candidate':<46}  "
         "false candidates per probe")
    for t in ts:
        echo(f"{t:>9.3f}  {rate_with_interval(r.fpir(t)):<46}  {r.mean_candidates(t):.2f}")
    echo("as the gallery grows (share of out-of-gallery probes with a false "
         "candidate):")
    echo(f"{'persons':>9}  " + "  ".join(f"{'<= ' + str(t):>8}" for t in ts))
    by_size = {t: r.fpir_by_size(t) for t in ts}
    for i, s in enumerate(r.sizes):
        echo(f"{int(s):>9,}  " + "  ".join(f"{percent(by_size[t][i].value):>8}"
                                                  for t in ts))
    if r.oog_groups is not None:
        for t in ts:
            echo(f"per {r.group_key} at distance <= {t}:")
            for g in r.by_group(t):
                gallery = f"  (gallery: {g['gallery_persons']:,} persons of this group)" \
                    if r.gallery_groups else ""
                echo(f"  {g['group']:<16} {g['probes']:>6,} probes  {rate_with_interval(g['fpir'])}"
                     f"  {g['mean_candidates']:.2f} per probe{gallery}")
            ratio = r.group_ratio(t)
            if ratio:
                echo(f"  {ratio['text']}")
    if r.mated_probes:
        echo("in-gallery probes, own person among the first k candidates: " + ", ".join(
             f"rank-{k} {percent(r.rank_hit(k).value)}" for k in DEFAULT_RANKS))
        echo("  own person at or under the threshold: " + ", ".join(
             f"{t}: {percent(r.mated_within(t).value)}" for t in ts))
    if r.worst:
        echo("closest false candidates (different persons):")
        for w in r.worst[:5]:
            echo(f"  {w.distance:.4f}  probe {w.probe_person}  candidate "
                 f"{w.candidate_person}")


def _print_outside(r: outside_probes.OutsideResult, ts: Sequence[float]) -> None:
    ps = r.probe_set
    echo(f"outside probes {ps['source']}: {r.oog_probes:,} searched "
         f"({int(r.in_gallery.sum()):,} of persons in the gallery), {len(r.problems):,}"
         f" left out; set {ps['hash'][:12]}")
    for p in r.problems[:10]:
        echo(f"  left out {p.path}: {p.reason}")
    if len(r.problems) > 10:
        echo(f"  ... and {len(r.problems) - 10} more (--json lists them all)")
    echo("every probe's own person is left out when counting false candidates")
    _print_experiment(r, ts)
    echo("false candidates per probe: predicted (as a search computes it, without "
         "the labels) against observed")
    echo(f"{'threshold':>9}  {'group':<16} {'probes':>6}  {'observed':>8}  "
         + "  ".join(r.predictions))
    for t, group, probes, observed, *cells in r.prediction_table(ts):
        echo(f"{t:>9}  {group:<16} {probes:>6}  {observed:>8}  " + "  ".join(cells))
    for n, why in r.prediction_notes.items():
        echo(f"  {n}: not available ({why})")


# --- calibrate ------------------------------------------------------------------------------


@click.command()
@db_option("The gallery whose searches the calibration serves.")
@click.option("--reference", type=GalleryLocation(),
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
@json_option("Print as JSON.")
@user_option()
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
        if use_id is not None or not list_only:
            session = signed_in_if_staffed(gallery, user, "change_settings")
        if use_id is not None:
            try:
                chosen = None if use_id == "shipped" else int(use_id)
            except ValueError:
                raise EvaluationError(f"{db}: no stored calibration '{use_id}' (see "
                                      f"facedesk calibrate --db {db} --list)") from None
            calibrations.use(gallery, chosen, session=session)
        elif not list_only:
            if probes is not None:
                measured = run_probe_set(gallery, probes, outside_probes.OutsideOptions(),
                                         as_json)
                calibrations.store(gallery, outside_probes.calibration_from(measured, gallery),
                                   "reference", session=session)
            else:
                run(lambda cancel: calibrations.calibrate(
                    gallery, reference_path=reference, session=session, cancel=cancel),
                    stopped=lambda ev: ev.calibration is None)
        stored = [c.as_dict() for c in calibrations.stored(gallery)]
        current = calibrations.in_use(gallery)
    doc = {"in_use": None if current is None else current.source, "stored": stored}
    if as_json:
        emit_json(doc)
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
@db_option("A labelled gallery.")
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
@user_option()
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
        lab.check_group(gallery, group_key)
        evals: list[lab.Evaluation] = [_evaluate_gallery(gallery, group_key, quiet=False)]
        if pairs_file is not None:
            if images is None:
                raise click.UsageError("--pairs needs --images (the photos' folder)")
            evals.append(lab.evaluate_pairs_file(gallery, pairs_file, images))
        result = _split_experiment(gallery, ExperimentOptions(seed=seed, group_key=group_key),
                                   quiet=False)
        crops = lab.worst_crops(gallery, result)
        outside: outside_probes.OutsideResult | None = None
        if probes is not None:
            outside = run_probe_set(gallery, probes, outside_probes.OutsideOptions(
                group_key=probe_group, seed=seed), False)
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
