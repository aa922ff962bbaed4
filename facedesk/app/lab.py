"""The accuracy lab put together: evaluations as one shape (pairs file or whole gallery),
their plots, and the report. Shared by the CLI and the GUI's trainer view."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator
from numpy.typing import NDArray

from facedesk.app.outside_probes import OutsideResult
from facedesk.app.report import Report
from facedesk.domain import evaluation, plots, private
from facedesk.domain.evaluation import (
    Distributions,
    FoldedAccuracy,
    GroupFigures,
    PairScores,
    Rate,
)
from facedesk.domain.experiment import DEFAULT_RANKS, ExperimentResult
from facedesk.domain.formatting import percent as _pct
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.domain.rates import BIN_WIDTH
from facedesk.errors import EvaluationError
from facedesk.store import Gallery

#: the operating points compared in every table and plot (0.6: face_recognition's default)
DEFAULT_TOLERANCE = 0.6


@dataclass
class Evaluation:
    """Verification figures of one labelled set."""

    title: str
    distributions: Distributions
    folded: FoldedAccuracy | None = None  # pairs files: the fold protocol
    group_key: str | None = None
    groups: list[GroupFigures] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)

    def groups_at(self, threshold: float) -> list[dict[str, Any]]:
        return [{"group": g.group, "persons": g.persons, "faces": g.faces,
                 "fmr": g.distributions.fmr(threshold),
                 "fnmr": g.distributions.fnmr(threshold)} for g in self.groups]

    def group_ratio(self, threshold: float) -> dict[str, Any] | None:
        return evaluation.worst_best_ratio(
            {g.group: g.distributions.fmr(threshold) for g in self.groups})

    def summary(self, thresholds: Sequence[float]) -> dict[str, Any]:
        eer = self.distributions.equal_error()
        return {
            "title": self.title, **self.source,
            "genuine_pairs": self.distributions.genuine_pairs,
            "impostor_pairs": self.distributions.impostor_pairs,
            "accuracy": None if self.folded is None else self.folded.as_dict(),
            "equal_error_rate": None if eer is None
            else {"threshold": eer[0], "rate": eer[1]},
            "thresholds": self.distributions.at(thresholds),
            "group_key": self.group_key,
            "groups": [
                {"group": g["group"], "persons": g["persons"], "faces": g["faces"],
                 "at": [{"threshold": t, "fmr": row["fmr"].as_dict(),
                         "fnmr": row["fnmr"].as_dict() if row["fnmr"].n else None}
                        for t in thresholds
                        for row in self.groups_at(t) if row["group"] == g["group"]]}
                for g in self.groups_at(thresholds[0])] if self.groups else [],
            "group_ratio_fmr": {str(t): self.group_ratio(t) for t in thresholds}
            if self.groups else {},
        }


def check_group(gallery: Gallery, group_key: str | None) -> None:
    """Refuse a `group_key` that is not a photo metadata column of `gallery` (None: no
    grouping, nothing to check)."""
    if group_key and group_key not in (keys := gallery.metadata_keys()):
        raise EvaluationError(f"{gallery.location}: no photo has a metadata column '{group_key}' "
                              f"(it has: {', '.join(keys) or 'none'})")


def pair_encodings(gallery: Gallery, pairs: Sequence[evaluation.PairSpec], images: Path
                   ) -> dict[str, NDArray[np.float32] | None]:
    """The stored encoding of every photo `pairs` name (paths relative to `images`, the
    folder they were imported from); refused when any of them is not in the gallery."""
    root = Path(os.path.abspath(images))
    wanted = {rel: str(root / rel) for p in pairs for rel in (p.a, p.b)}
    stored = gallery.encodings_by_path(list(wanted.values()))
    missing = [rel for rel, path in wanted.items() if path not in stored]
    if missing:
        raise EvaluationError(
            f"{len(missing):,} of the {len(wanted):,} photos named by the pairs are not in "
            f"{gallery.location} (e.g. {root / missing[0]}); import them first: "
            f"facedesk import {images} --db {gallery.location}")
    return {rel: stored[path] for rel, path in wanted.items()}


def evaluate_pairs_file(gallery: Gallery, pairs_file: Path, images: Path) -> Evaluation:
    """Evaluate an LFW-format pairs file whose photos (in `images`) are imported into
    `gallery`: accuracy with its folds."""
    pairs = evaluation.read_pairs(pairs_file)
    return evaluate_pairs(evaluation.score_pairs(pairs, pair_encodings(gallery, pairs, images)),
                          pairs_file)


def evaluate_pairs(scores: PairScores, pairs_file: Path) -> Evaluation:
    genuine, impostor = scores.histograms()
    folded = evaluation.ten_fold(scores)
    return Evaluation(
        f"Pairs of {pairs_file.name}: {len(scores.distance):,} pairs in {len(folded.folds)} "
        "folds", Distributions(genuine, impostor), folded,
        source={"pairs_file": str(pairs_file)})


@dataclass(frozen=True)
class EvaluateProgress:
    """One step of `evaluate_gallery_steps`: "loading" the encodings, "pairs" (done/total
    blocks of pairs), then "finished" with `result`, or "cancelled"."""

    phase: str
    done: int = 0
    total: int = 0
    result: Evaluation | None = None


def evaluate_gallery_steps(gallery: Gallery, group_key: str | None = None,
                           cancel: CancelToken | None = None) -> Iterator[EvaluateProgress]:
    """The error rates of every pair of a labelled gallery's faces, overall and per
    `group_key` (a photo metadata column), with progress; stops between blocks of pairs
    when `cancel` is set (it writes nothing)."""
    yield EvaluateProgress("loading")
    enc = gallery.load_encodings()
    groups = None
    if group_key:
        meta = gallery.face_metadata(group_key)
        groups = [meta.get(int(f)) for f in enc.face_ids]
    for step in evaluation.every_pair_steps(enc.matrix, enc.person_pks, groups, group_key,
                                            cancel):
        ev = step.result
        if ev is None:
            yield EvaluateProgress(step.phase, step.done, step.total)
            continue
        yield EvaluateProgress("finished", step.done, step.total, Evaluation(
            f"Every pair of {gallery.name}: {ev.faces:,} faces of {ev.persons:,} "
            "persons", ev.overall, None, group_key, ev.groups,
            source={"gallery": str(gallery.location), "gallery_version": enc.version}))


def evaluate_gallery(gallery: Gallery, group_key: str | None = None) -> Evaluation:
    """`evaluate_gallery_steps` run to its end."""
    out = run_to_end(evaluate_gallery_steps(gallery, group_key))
    assert out is not None  # nothing cancels it
    return out


# --- plots ----------------------------------------------------------------------------------

#: the line of a chosen (e.g. the trainer's slider) threshold
HIGHLIGHT_COLOUR = "#000000"


def fmt_t(t: float) -> str:
    """A threshold as people read it: 0.6 -> "0.60", 0.625 -> "0.625"."""
    text = f"{t:.3f}"
    return text[:-1] if text.endswith("0") else text


def _label(t: float) -> str:
    return f"distance ≤ {fmt_t(t)}"


def _same(a: float, b: float) -> bool:
    return abs(a - b) < 1e-9


def _group_bars(rows: Sequence[dict[str, Any]], key: str, ylabel: str, title: str) -> Figure:
    rates: list[Rate] = [r[key] for r in rows]
    fig = plots.group_bars(
        [r["group"] for r in rows], np.array([r.value for r in rates]),
        np.array([r.interval[0] for r in rates]), np.array([r.interval[1] for r in rates]),
        [r.n for r in rates], ylabel=ylabel, title=title, percent=True)
    return fig


def experiment_figures(r: ExperimentResult, thresholds: Sequence[float],
                       highlight: float | None = None) -> dict[str, Figure]:
    """False candidates vs gallery size (a line per threshold; `highlight`, e.g. the
    trainer's slider, drawn bold with its 95 % band) and, with a group column, the
    per-group bars at `highlight` (else 0.6, else the largest threshold)."""
    chosen_t = highlight if highlight is not None else (
        DEFAULT_TOLERANCE if any(_same(DEFAULT_TOLERANCE, t) for t in thresholds)
        else max(thresholds))
    chosen = _label(chosen_t) + (" (slider)" if highlight is not None else "")
    rates: dict[str, Any] = {}
    ci: dict[str, tuple[Any, Any]] = {}
    for q in thresholds:
        if not _same(q, chosen_t):
            rates[_label(q)] = np.array([x.value for x in r.fpir_by_size(q)])
    by_size = r.fpir_by_size(chosen_t)
    rates[chosen] = np.array([x.value for x in by_size])
    ci[chosen] = (np.array([x.interval[0] for x in by_size]),
                  np.array([x.interval[1] for x in by_size]))
    fig = plots.false_candidates_vs_gallery_size(
        r.sizes, rates, ci, title="Probes NOT in the gallery that still get a false "
                                  "candidate, as the gallery grows")
    ax = fig.axes[0]
    for line in ax.get_lines():
        if line.get_label() == chosen:
            line.set(color=HIGHLIGHT_COLOUR, linewidth=2.6, linestyle="-", marker="o",
                     markersize=5, zorder=5)
        else:
            line.set(alpha=0.75, linewidth=1.2)
    for band in ax.collections:
        band.set(color=HIGHLIGHT_COLOUR, alpha=0.12)
    ax.legend(title="candidate if (shaded: 95 % interval)", title_fontsize=8, fontsize=8,
              frameon=False, loc="upper left")
    ax.set_ylim(-0.02, 1.02)  # a line at 0 % stays visible above the axis
    figs = {"false_candidates_vs_size": fig}
    rows = r.by_group(chosen_t)
    if r.oog_groups is not None and rows:
        bars = _group_bars(rows, "fpir", "probes with ≥ 1 false candidate",
                           f"Probes NOT in the gallery with a false candidate\n"
                           f"at {_label(chosen_t)}, per {r.group_key}")
        bars.axes[0].set_ylim(0, 1.05)
        figs["groups_false_candidates"] = bars
    return figs


def has_genuine(ev: Evaluation) -> bool:
    return ev.distributions.genuine_pairs > 0


def evaluation_figures(ev: Evaluation, marks: Sequence[float]) -> dict[str, Figure]:
    """Distances, error rates and (with genuine pairs) the DET curve, with `marks`, and
    per-group FMR bars when the evaluation has groups. A gallery without repeat photos has
    no genuine pairs: no FNMR line, no DET curve."""
    d = ev.distributions
    genuine = has_genuine(ev)
    edges = np.arange(len(d.genuine) + 1) * BIN_WIDTH
    title = "How close faces come: same person vs different persons" if genuine else \
        "How close faces of different persons come"
    hist = plots.distance_histograms_binned(edges, d.genuine, d.impostor, thresholds=marks,
                                            title=title)
    hist.axes[0].set_xlabel("distance between face encodings (Euclidean)")
    figs = {"distances": hist}
    ts, fmr, fnmr = d.curves()
    if not genuine:
        fnmr = np.full(len(ts), np.nan)
    err = plots.error_rates(ts, fmr, fnmr, marks=marks)
    ax = err.axes[0]
    if not genuine:
        for line in list(ax.get_lines()):
            if str(line.get_label()).startswith("false non-match"):
                line.remove()
        for text in ax.texts:  # the reading at each mark: no FNMR line
            if "FNMR" in text.get_text():
                text.set_text(text.get_text().rsplit("\n", 1)[0])
        ax.legend(loc="lower right", fontsize=8, frameon=False,
                  title="no genuine pairs: no false non-match rate", title_fontsize=7)
    ax.set_xlim(0.2, 1.0)
    ax.set_xlabel("distance threshold (Euclidean)")
    figs["error_rates"] = err
    if genuine:
        curves = {"all": (fmr, fnmr)}
        for g in ev.groups:
            if g.distributions.genuine_pairs and g.distributions.impostor_pairs:
                _, gf, gn = g.distributions.curves()
                curves[g.group] = (gf, gn)
        points = [(d.fmr(m).value, d.fnmr(m).value, f"≤ {fmt_t(m)}") for m in marks]
        det = plots.det_curve(curves, points=points)
        # at most ~6 labelled decades on the FMR axis: "1 in 10M" labels need room
        det.axes[0].xaxis.set_major_locator(LogLocator(base=10, numticks=7))
        figs["det"] = det
    if ev.groups:
        t = DEFAULT_TOLERANCE if any(_same(DEFAULT_TOLERANCE, m) for m in marks) \
            else marks[-1]
        figs["groups_fmr"] = _group_bars(
            ev.groups_at(t), "fmr", "FMR (impostor pairs at or under)",
            f"False match rate per {ev.group_key} at {_label(t)}")
    return figs


def save_figures(figures: dict[str, Figure], folder: Path) -> list[Path]:
    private.make_dirs(folder)
    written = []
    for name, fig in figures.items():
        for suffix in (".png", ".svg"):
            path = folder / f"{name}{suffix}"
            plots.save(fig, path)
            written.append(path)
    return written


# --- the report -----------------------------------------------------------------------------


def new_report(about: str | Path) -> Report:
    """`about`: the gallery's file (its name is shown) or a gallery's name."""
    name = about.name if isinstance(about, Path) else about
    return Report("FaceDesk accuracy report", f"Measured on {name}")


def _rate_cell(r: Rate, sci: bool = False) -> str:
    lo, hi = r.interval
    if sci:
        return f"{r.value:.2e} [{lo:.1e}, {hi:.1e}] ({r.k:,}/{r.n:,})"
    return f"{_pct(r.value)} [{_pct(lo)}, {_pct(hi)}] ({r.k:,}/{r.n:,})"


CAPTIONS = {
    "distances": "Distances of genuine pairs (same person) and impostor pairs (different "
                 "persons), with the thresholds.",
    "error_rates": "False match rate (impostor pairs at or under the threshold) and false "
                   "non-match rate (genuine pairs over it).",
    "det": "DET curve: each point is one threshold; lower and further left is better.",
    "groups_fmr": "False match rate per group, with 95% intervals and group sizes.",
    "false_candidates_vs_size": "Out-of-gallery probes (persons NOT in the gallery) that "
                                "still get at least one candidate, as the gallery grows.",
    "groups_false_candidates": "Out-of-gallery probes with a false candidate, per group.",
}


def add_evaluation(rep: Report, ev: Evaluation, thresholds: Sequence[float],
                   figures: dict[str, Figure]) -> None:
    d = ev.distributions
    rep.add_heading(ev.title)
    if ev.folded is not None:
        f = ev.folded
        rep.add_paragraph(
            f"Accuracy with the {len(f.folds)}-fold protocol (each fold tested at the "
            f"threshold best on the others): {_pct(f.mean)} ± {_pct(f.std)}. "
            f"{f.lost_pairs} of {f.pairs:,} pairs were lost because no face was found in a "
            "photo; they count as errors. Read otherwise: with lost pairs left out, "
            f"{_pct(f.mean_of('accuracy_found'))}; with a lost pair answered 'not the same "
            f"person', {_pct(f.mean_of('accuracy_lost_as_different'))}.")
        rep.add_table(["fold", "threshold", "accuracy", "pairs", "lost"],
                      [[str(x.fold + 1), f"{x.threshold:.3f}", _pct(x.accuracy),
                        str(x.pairs), str(x.lost)] for x in f.folds])
    eer = d.equal_error()
    rep.add_paragraph(
        f"{d.genuine_pairs:,} genuine and {d.impostor_pairs:,} impostor pairs; "
        + (f"equal error rate {_pct(eer[1])} at distance {eer[0]:.3f}." if eer else
           "no repeat photos of a person, so no genuine pairs: no false non-match rate."))
    rep.add_table(["threshold", "FMR (impostor pairs at or under)", "FNMR (genuine over)"],
                  [[f"{t:g}", _rate_cell(d.fmr(t), sci=True),
                    _rate_cell(d.fnmr(t)) if d.genuine_pairs else "no repeat photos"]
                   for t in thresholds])
    for t in thresholds if ev.groups else ():
        rows = ev.groups_at(t)
        ratio = ev.group_ratio(t)
        rep.add_table(
            [ev.group_key or "group", "persons", "faces", "FMR", "FNMR"],
            [[g["group"], f"{g['persons']:,}", f"{g['faces']:,}",
              _rate_cell(g["fmr"], sci=True),
              _rate_cell(g["fnmr"]) if g["fnmr"].n else "no repeat photos"] for g in rows],
            caption=f"Per {ev.group_key} at {_label(t)}"
                    + (f"; FMR {ratio['text']}" if ratio else ""))
    for name, fig in figures.items():
        rep.add_figure(fig, CAPTIONS.get(name, name))


def worst_crops(gallery: Gallery, r: ExperimentResult) -> list[tuple[str, bytes, bytes]]:
    """(caption, probe crop, candidate crop) for the closest false candidates."""
    out = []
    for w in r.worst:
        probe = r.probe_crops[w.probe_index] if isinstance(r, OutsideResult) \
            else gallery.face_crop(w.probe_face_id)
        cand = gallery.face_crop(w.candidate_face_id)
        if probe and cand:
            who = f"{w.probe_label} ({w.probe_person})" if w.probe_label else w.probe_person
            out.append((f"{who} vs {w.candidate_person}: distance {w.distance:.3f}",
                        probe, cand))
    return out


def add_predictions(rep: Report, r: OutsideResult, thresholds: Sequence[float]) -> None:
    """The predicted-vs-observed table of an outside probe set."""
    names = list(r.predictions)
    rows = r.prediction_table(thresholds)
    rep.add_table(["threshold", "group", "probes", "observed false candidates per probe",
                   *(f"predicted: {n}" for n in names)], rows,
                  caption="What FaceDesk predicts (computed as a search computes it, from "
                          "the probe's distances, without the labels) against what is "
                          "observed (each probe's own person left out)")
    if r.prediction_notes:
        rep.add_paragraph("Not available here: " + "; ".join(
            f"{n} ({why})" for n, why in r.prediction_notes.items()) + ".")


def add_experiment(rep: Report, r: ExperimentResult, thresholds: Sequence[float],
                   figures: dict[str, Figure], crops: Sequence[tuple[str, bytes, bytes]] = ()
                   ) -> None:
    if isinstance(r, OutsideResult):
        ps = r.probe_set
        rep.add_heading("Outside probes searched against the whole gallery")
        rep.add_paragraph(
            f"{r.oog_probes:,} outside probes ({ps['source']}, set {ps['hash'][:12]}; "
            f"{len(r.problems):,} left out, no face or unreadable) were searched against "
            f"all {r.gallery_persons:,} persons ({r.gallery_faces:,} photos) of the "
            f"gallery. {int(r.in_gallery.sum()):,} of them show persons who are also in "
            "the gallery; every probe's own person is left out when counting, so any "
            "candidate counted below is a false candidate.")
    else:
        rep.add_heading("The false-positive experiment")
        rep.add_paragraph(
            f"The labelled set was split at random (seed {r.options.seed}): "
            f"{r.gallery_persons:,} persons ({r.gallery_faces:,} photos) form the gallery; "
            f"{r.oog_probes:,} other persons, NOT in the gallery, were searched against it. "
            "Any candidate they receive is a false candidate.")
    rep.add_table(
        ["threshold", "probes NOT in the gallery with a false candidate",
         "false candidates per probe", "in-gallery probes with own person within"],
        [[f"{t:g}", _rate_cell(r.fpir(t)), f"{r.mean_candidates(t):.2f}",
          _rate_cell(r.mated_within(t)) if r.mated_probes else "-"] for t in thresholds])
    by_size = {t: r.fpir_by_size(t) for t in thresholds}
    rep.add_table(["persons in gallery", *(_label(t) for t in thresholds)],
                  [[f"{int(s):,}", *(_pct(by_size[t][i].value) for t in thresholds)]
                   for i, s in enumerate(r.sizes)],
                  caption="Share of out-of-gallery probes with a false candidate, by "
                          "gallery size (nested random sub-samples)")
    if r.oog_groups is not None:
        for t in thresholds:
            ratio = r.group_ratio(t)
            rep.add_table(
                [r.group_key or "group", "probes", "with a false candidate", "per probe",
                 "gallery persons of the group", "in-gallery rank-1"],
                [[g["group"], f"{g['probes']:,}", _rate_cell(g["fpir"]),
                  f"{g['mean_candidates']:.2f}", f"{g['gallery_persons']:,}",
                  _rate_cell(g["rank1"]) if g["rank1"].n else "-"] for g in r.by_group(t)],
                caption=f"Per {r.group_key} at {_label(t)}"
                        + (f"; {ratio['text']}" if ratio else ""))
    if r.mated_probes:
        rep.add_paragraph(
            f"{r.mated_probes:,} in-gallery probes (a held-out photo of a gallery person): "
            + ", ".join(f"own person at rank {k} or better {_pct(r.rank_hit(k).value)}"
                        for k in DEFAULT_RANKS) + ".")
    if isinstance(r, OutsideResult):
        add_predictions(rep, r, thresholds)
    for name, fig in figures.items():
        rep.add_figure(fig, CAPTIONS.get(name, name))
    if crops:
        rep.add_heading("The closest false candidates")
        rep.add_paragraph("Each pair shows two DIFFERENT persons that face search placed "
                          "close together: probe (left), false candidate (right).")
        for caption, probe, cand in crops:
            rep.add_images([(f"probe — {caption}", probe), ("false candidate", cand)])
