"""Numbers in words, as both front ends (and the reports) print them: durations and
percentages."""

from __future__ import annotations

import math


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


def duration_clock(seconds: float) -> str:
    """A duration for a terminal's progress line: '3m05s', '1h02m'."""
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def percent(x: float) -> str:
    """A share with two decimals and its sign, '-' when there is none: '86.25%'."""
    return "-" if math.isnan(x) else f"{100 * x:.2f}%"


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
