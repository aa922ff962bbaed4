"""The trainer's figures in words: rates with their intervals, the experiment's headline,
the group table's cells and the worst / best group comparison (rich text where noted)."""

from __future__ import annotations

import math
from typing import Any

from facedesk.app import lab
from facedesk.app.experiment import ExperimentResult
from facedesk.app.outside_probes import OutsideResult
from facedesk.domain.evaluation import Rate
from facedesk.domain.formatting import percent_number as pct


def rate_words(r: Rate) -> str:
    """ "86 %, 95 % interval 82–89 %" """
    lo, hi = r.interval
    if r.n == 0:
        return "no probes"
    return f"{pct(r.value)} %, 95 % interval {pct(lo)}–{pct(hi)} %"


def per_probe(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    return f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def headline(r: ExperimentResult, t: float) -> str:
    """The experiment at one threshold, in one sentence (rich text)."""
    f = r.fpir(t)
    who = "outside probes (own person left out)" if isinstance(r, OutsideResult) else \
        "probes"
    whose = "" if isinstance(r, OutsideResult) else " of persons <b>NOT</b> in this gallery"
    return (f"At distance ≤ <b>{lab.fmt_t(t)}</b>, <b>{f.k:,} of {f.n:,}</b> {who} "
            f"(<b>{rate_words(f)}</b>){whose} got at least one "
            f"false candidate; <b>{per_probe(r.mean_candidates(t))}</b> false candidates per "
            "probe on average.")


def group_cells(row: dict[str, Any]) -> list[str]:
    """Cells of the group table for one row of `ExperimentResult.by_group`."""
    f: Rate = row["fpir"]
    lo, hi = f.interval
    return [row["group"], f"{row['probes']:,}", f"{pct(f.value)} % ({f.k:,} of {f.n:,})",
            f"{pct(lo)}–{pct(hi)} %", f"{row['mean_candidates']:.2f}"]


def ratio_words(ratio: dict[str, Any] | None, rates: dict[str, Rate], t: float,
                what: str = "false candidates") -> str:
    if ratio is None:
        return (f"At distance ≤ {lab.fmt_t(t)} no group has {what}: nothing to compare."
                if len(rates) > 1 else "")
    worst, best = ratio["worst"], ratio["best"]
    factor = "no case at all in the best group" if ratio["ratio"] is None \
        else f"{ratio['ratio']:.2f} times as often"
    overlap = rates[worst].interval[0] <= rates[best].interval[1]
    chance = ("Their 95 % intervals overlap: the difference may be chance." if overlap
              else "Their 95 % intervals do not overlap.")
    return (f"Worst / best group at distance ≤ {lab.fmt_t(t)}: {worst} "
            f"({pct(rates[worst].value)} %) against {best} ({pct(rates[best].value)} %): "
            f"{factor}. {chance}")
