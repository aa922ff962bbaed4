"""Numbers as people read them, for every front end (and the reports): durations,
percentages and measured rates with their interval. Pure text; no I/O."""

from __future__ import annotations

import math

from facedesk.domain.evaluation import Rate


def duration_words(seconds: float) -> str:
    """A duration for a sentence: 'less than a second', '42 s', '3 min 05 s', '1 h 02 min'."""
    if seconds < 1:
        return "less than a second"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def compact_duration(seconds: float) -> str:
    """A duration in a few characters, for a progress or summary line: 4m07s, 2h05m."""
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def percent(share: float, decimals: int = 2) -> str:
    """A share as a percentage, with two decimals by default (12.34%); '-' when it is not
    known (NaN)."""
    return "-" if math.isnan(share) else f"{100 * share:.{decimals}f}%"


def percent_number(value: float) -> str:
    """A share as a percentage number (without the sign), to as many digits as it needs:
    86, 4.7, 0.25, 0."""
    if not math.isfinite(value):
        return "–"
    x = value * 100
    if x == 0:
        return "0"
    if x >= 99.5 and x < 100:
        return f"{x:.1f}"
    if x >= 10:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.1f}"
    return f"{x:.2g}"


def rate_with_interval(r: Rate) -> str:
    """A rate as a percentage with its 95 % interval and its count: 12.34% [..]  (k/n)."""
    lo, hi = r.interval
    return f"{percent(r.value):>7} [{percent(lo)}, {percent(hi)}]  ({r.k:,}/{r.n:,})"


def rate_scientific(r: Rate) -> str:
    """A small rate (an FMR) in scientific notation with its interval and its count."""
    lo, hi = r.interval
    return f"{r.value:.2e} [{lo:.1e}, {hi:.1e}] ({r.k:,}/{r.n:,})"
