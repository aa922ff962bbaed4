"""Figures of FaceDesk's measurements, one plotting library for the GUI and exported reports.

Every function takes numpy arrays or plain data and returns a `matplotlib.figure.Figure`
built directly, never through pyplot (global state, and pyplot may pick a GUI backend)
and never with a Qt backend: the GUI puts the figure on a `FigureCanvasQTAgg`, reports
and the CLI render it with `fig_to_bytes` / `save` (Agg, SVG or PDF, no display needed).

Style: 6.4 x 4 in, axes labelled with their units, Okabe-Ito colours (distinguishable
with the common colour-vision deficiencies) with line styles as a second cue, so the
figures also read in greyscale print. Wording follows DESIGN.md: "candidate" and
"look-alike", "genuine pairs (same person)", "impostor pairs (different persons)".
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter
from numpy.typing import ArrayLike, NDArray

from facedesk.domain import private

__all__ = [
    "FIGSIZE", "GENUINE_LABEL", "IMPOSTOR_LABEL", "PALETTE",
    "det_curve", "distance_histograms", "distance_histograms_binned", "error_rates",
    "false_candidates_vs_gallery_size", "fig_to_bytes", "format_rate", "group_bars", "save",
]

#: figure size in inches (matplotlib's default; readable on screen and on an A4/Letter page)
FIGSIZE = (6.4, 4.0)
#: Okabe-Ito colours: blue, vermillion, bluish green, orange, reddish purple, sky blue,
#: black, yellow (yellow last: faint on white)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
GENUINE_COLOUR = PALETTE[0]
IMPOSTOR_COLOUR = PALETTE[1]
THRESHOLD_COLOUR = "#444444"
GENUINE_LABEL = "genuine pairs (same person)"
IMPOSTOR_LABEL = "impostor pairs (different persons)"
DISTANCE_LABEL = "distance between face encodings (Euclidean, unitless)"
#: at most this many bars in a distance histogram; finer pre-binned counts are merged
MAX_DISPLAY_BINS = 200
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0}

Format = Literal["png", "svg", "pdf"]
_SUFFIX_FORMATS: dict[str, Format] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


# --------------------------------------------------------------------------- helpers



def plain(text: object) -> str:
    """`text` drawn as it is: matplotlib reads a text between two $ as mathtext (and a
    metadata value such as "$x^{" fails to draw), so every $ of a text FaceDesk did not
    write (metadata values, column names) is escaped."""
    return str(text).replace("$", r"\$")


def _floats(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _same_length(**arrays: NDArray[np.float64]) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"arrays must have the same length: {described}")


def _new_figure(title: str | None = None) -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    _style(ax)
    if title:
        ax.set_title(plain(title), fontsize=11, loc="left")
    return fig, ax


def _style(ax: Axes) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=9)


def _no_data(ax: Axes, what: str = "no data") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center",
            color="#666666", fontsize=11)


def format_rate(value: float) -> str:
    """A share of pairs, readable by a person: "4.1 %", "0.52 %", "1 in 25,000", "0"."""
    if not math.isfinite(value):
        return "–"
    if value <= 0:
        return "0"
    if value >= 0.001:
        pct = value * 100
        if pct >= 99.5:
            return "100 %"
        return f"{pct:.0f} %" if pct >= 10 else f"{pct:.2g} %"
    one_in = float(f"{1 / value:.2g}")  # two significant digits: 1 in 11,000
    return f"1 in {one_in:,.0f}"


def _percent_tick(value: float, _pos: int | None = None) -> str:
    """Tick label of a share (0..1) on a linear axis: "0 %", "20 %", "0.4 %"."""
    return f"{round(value * 100, 10):g} %"


def _rate_tick(value: float, _pos: int | None = None) -> str:
    """Tick label on a log axis of shares: percent down to 0.1 %, then "1 in 10k"."""
    if value <= 0:
        return "0"
    if value >= 0.001:
        return _percent_tick(value)
    n = 1 / value
    if n >= 999_500:
        return f"1 in {float(f'{n / 1e6:.3g}'):g}M"
    return f"1 in {float(f'{n / 1e3:.3g}'):g}k"


def _log_rate_axis(ax: Axes, axis: Literal["x", "y"], positive: NDArray[np.float64],
                   floor: float | None) -> tuple[float, float]:
    """Log scale for shares in (0, 1]; zeros cannot be drawn and are left out.
    Returns the (low, high) limits chosen."""
    pos = positive[np.isfinite(positive) & (positive > 0)]
    if floor is None:
        smallest = float(pos.min()) if len(pos) else 1e-6
        floor = 10.0 ** math.floor(math.log10(smallest))
    high = max(1.0, float(pos.max()) if len(pos) else 1.0) * 1.15
    formatter = FuncFormatter(_rate_tick)
    if axis == "y":
        ax.set_yscale("log")
        ax.set_ylim(floor, high)
        ax.yaxis.set_major_formatter(formatter)
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_xscale("log")
        ax.set_xlim(floor, high)
        ax.xaxis.set_major_formatter(formatter)
        ax.xaxis.set_minor_formatter(NullFormatter())
    return floor, high


def _positive_or_nan(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(values > 0, values, np.nan)


def _merge_bins(edges: NDArray[np.float64], counts: NDArray[np.float64],
                merge: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if merge <= 1:
        return edges, counts
    n = len(counts)
    starts = np.arange(0, n, merge)
    merged = np.add.reduceat(counts, starts) if n else counts
    new_edges = np.append(edges[starts], edges[n])
    return new_edges, merged


def _auto_merge(n_bins: int) -> int:
    for factor in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if n_bins / factor <= MAX_DISPLAY_BINS:
            return factor
    return math.ceil(n_bins / MAX_DISPLAY_BINS)


def _threshold_lines(ax: Axes, thresholds: Sequence[float]) -> None:
    for t in thresholds:
        ax.axvline(t, color=THRESHOLD_COLOUR, linestyle=":", linewidth=1.2, zorder=3)
        ax.text(t, 0.98, f"threshold {t:g}", transform=ax.get_xaxis_transform(),
                rotation=90, ha="right", va="top", fontsize=8, color=THRESHOLD_COLOUR,
                zorder=4, bbox=_LABEL_BOX)


# --------------------------------------------------------------------------- plots


def distance_histograms(genuine: ArrayLike, impostor: ArrayLike,
                        thresholds: Sequence[float] = (0.6,), bins: int | ArrayLike = 120,
                        *, log_density: bool = False,
                        title: str = "How close faces come: same person vs different persons",
                        ) -> Figure:
    """Densities of the distances of genuine pairs (same person) and impostor pairs
    (different persons), from the raw distances, with the thresholds as vertical lines.

    Both sets share the same bins (an int: that many bins from 0 to the largest distance;
    or the bin edges). Millions of impostor distances are fine (one `np.histogram`).
    `log_density` shows the impostor tail below the threshold, where look-alikes come from.
    """
    gen = _floats(genuine, "genuine")
    imp = _floats(impostor, "impostor")
    gen = gen[np.isfinite(gen)]
    imp = imp[np.isfinite(imp)]
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise ValueError("bins must be at least 1")
        largest = max([float(gen.max()) if len(gen) else 0.0,
                       float(imp.max()) if len(imp) else 0.0, *thresholds, 0.0])
        top = math.ceil(max(largest, 0.1) * 20 + 1e-9) / 20  # next multiple of 0.05
        edges = np.linspace(0.0, top, int(bins) + 1)
    else:
        edges = _floats(bins, "bins")
        if len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bin edges must be at least two increasing values")
    gen_counts, _ = np.histogram(gen, bins=edges)
    imp_counts, _ = np.histogram(imp, bins=edges)
    return distance_histograms_binned(edges, gen_counts, imp_counts, thresholds, merge=1,
                                      log_density=log_density, title=title)


def distance_histograms_binned(bin_edges: ArrayLike, genuine_counts: ArrayLike,
                               impostor_counts: ArrayLike,
                               thresholds: Sequence[float] = (0.6,), *,
                               merge: int | None = None, log_density: bool = False,
                               title: str = "How close faces come: "
                                            "same person vs different persons",
                               ) -> Figure:
    """`distance_histograms` from counts already binned, as a calibration stores them
    (facedesk.app.calibration: bins of BIN_WIDTH = 0.001, so
    `bin_edges = np.arange(len(counts) + 1) * BIN_WIDTH`).

    `merge` adjacent bins are summed for display (default: the smallest of 1, 2, 5, 10...
    that leaves at most MAX_DISPLAY_BINS bars; 1601 calibration bins become bins of 0.01).
    """
    edges = _floats(bin_edges, "bin_edges")
    gen = _floats(genuine_counts, "genuine_counts")
    imp = _floats(impostor_counts, "impostor_counts")
    _same_length(genuine_counts=gen, impostor_counts=imp)
    if len(edges) != len(gen) + 1:
        raise ValueError(f"bin_edges needs len(counts) + 1 = {len(gen) + 1} values, "
                         f"got {len(edges)}")
    if np.any(np.diff(edges) <= 0):
        raise ValueError("bin_edges must be increasing")
    if np.any(gen < 0) or np.any(imp < 0):
        raise ValueError("counts must not be negative")
    factor = _auto_merge(len(gen)) if merge is None else max(1, int(merge))
    _, gen = _merge_bins(edges, gen, factor)
    edges, imp = _merge_bins(edges, imp, factor)
    widths = np.diff(edges)

    fig, ax = _new_figure(title)
    ax.set_xlabel(DISTANCE_LABEL)
    ax.set_ylabel("density (share of pairs per unit distance)"
                  + (", log scale" if log_density else ""))
    drawn = False
    for counts, label, colour, style in ((gen, GENUINE_LABEL, GENUINE_COLOUR, "-"),
                                         (imp, IMPOSTOR_LABEL, IMPOSTOR_COLOUR, "--")):
        total = float(counts.sum())
        if total <= 0:
            continue
        density = counts / (total * widths)
        ax.stairs(density, edges, fill=True, color=colour, alpha=0.25, linewidth=0)
        ax.stairs(density, edges, color=colour, linestyle=style, linewidth=1.4,
                  label=f"{label}, n = {round(total):,}")
        drawn = True
    if not drawn:
        _no_data(ax, "no pairs to show")
    else:
        nonzero = np.flatnonzero((gen > 0) | (imp > 0))
        low = min([float(edges[nonzero[0]]), *thresholds])
        high = max([float(edges[nonzero[-1] + 1]), *thresholds])
        pad = 0.02 * (high - low if high > low else 1.0)
        ax.set_xlim(low - pad, high + pad)
        if log_density:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=1)
    _threshold_lines(ax, thresholds)
    return fig


def error_rates(thresholds: ArrayLike, fmr: ArrayLike, fnmr: ArrayLike,
                marks: Sequence[float] = (0.6,), *, floor: float | None = None,
                title: str = "Error rates at each distance threshold") -> Figure:
    """False match rate (FMR: share of impostor pairs at the threshold or closer) and false
    non-match rate (FNMR: share of genuine pairs farther) against the distance threshold,
    on a log y axis, with the values read off at `marks`.

    Zero rates cannot be drawn on a log axis: they are left out (the line stops) and said
    so on the figure. `floor` is the bottom of the y axis (default: the decade below the
    smallest non-zero rate).
    """
    t = _floats(thresholds, "thresholds")
    fm = _floats(fmr, "fmr")
    fnm = _floats(fnmr, "fnmr")
    _same_length(thresholds=t, fmr=fm, fnmr=fnm)
    order = np.argsort(t, kind="stable")
    t, fm, fnm = t[order], fm[order], fnm[order]

    fig, ax = _new_figure(title)
    ax.set_xlabel(DISTANCE_LABEL.replace("distance", "distance threshold", 1))
    ax.set_ylabel("error rate (share of pairs, log scale)")
    if len(t) == 0:
        _no_data(ax)
        return fig
    ax.plot(t, _positive_or_nan(fm), color=IMPOSTOR_COLOUR, linestyle="-", linewidth=1.6,
            label="false match rate (FMR): impostor pairs at or below")
    ax.plot(t, _positive_or_nan(fnm), color=GENUINE_COLOUR, linestyle="--", linewidth=1.6,
            label="false non-match rate (FNMR): genuine pairs above")
    _log_rate_axis(ax, "y", np.concatenate([fm, fnm]), floor)
    ax.set_xlim(float(t[0]), float(t[-1]) if t[-1] > t[0] else float(t[0]) + 1.0)
    zeros = np.any(fm[np.isfinite(fm)] <= 0) or np.any(fnm[np.isfinite(fnm)] <= 0)
    zero_note = "rates of 0 are not drawn on the log axis" if zeros else None
    for i, m in enumerate(marks):
        ax.axvline(m, color=THRESHOLD_COLOUR, linestyle=":", linewidth=1.2, zorder=3)
        at_fmr = float(np.interp(m, t, fm))
        at_fnmr = float(np.interp(m, t, fnm))
        ax.text(m, 0.97 - 0.17 * (i % 4),
                f" threshold {m:g}\n FMR {format_rate(at_fmr)}\n FNMR {format_rate(at_fnmr)}",
                transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=7.5,
                color=THRESHOLD_COLOUR, bbox=_LABEL_BOX)
    ax.legend(loc="lower right", fontsize=8, frameon=False, title_fontsize=7,
              title=zero_note)
    return fig


def det_curve(curves: Mapping[str, tuple[ArrayLike, ArrayLike]], *,
              points: Sequence[tuple[float, float, str]] = (),
              title: str = "Detection error trade-off (DET)") -> Figure:
    """DET curves: FNMR against FMR, both on log axes, one labelled curve per entry of
    `curves` (e.g. "all", or one per group): label -> (fmr array, fnmr array), each pair
    of values measured at the same threshold. Points where either rate is 0 cannot be
    drawn on log axes and are left out. `points` marks operating points
    (fmr, fnmr, label), e.g. where the distance threshold 0.6 falls. Lower left is better.
    """
    fig, ax = _new_figure(title)
    ax.set_xlabel("false match rate (FMR, share of impostor pairs, log scale)")
    ax.set_ylabel("false non-match rate (FNMR, log scale)")
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.float64]] = []
    for i, (label, (fmr, fnmr)) in enumerate(curves.items()):
        x = _floats(fmr, f"fmr of {label!r}")
        y = _floats(fnmr, f"fnmr of {label!r}")
        _same_length(fmr=x, fnmr=y)
        keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        order = np.argsort(x[keep], kind="stable")
        xk, yk = x[keep][order], y[keep][order]
        xs.append(xk)
        ys.append(yk)
        ax.plot(xk, yk, color=PALETTE[i % len(PALETTE)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6, label=plain(label))
    for fm, fnm, label in points:
        if fm > 0 and fnm > 0:
            ax.plot([fm], [fnm], marker="o", color=THRESHOLD_COLOUR, markersize=5,
                    linestyle="none")
            ax.annotate(plain(label), (fm, fnm), xytext=(5, 5), textcoords="offset points",
                        fontsize=8, color=THRESHOLD_COLOUR)
            xs.append(np.array([fm]))
            ys.append(np.array([fnm]))
    all_x = np.concatenate(xs) if xs else np.zeros(0)
    all_y = np.concatenate(ys) if ys else np.zeros(0)
    _log_rate_axis(ax, "x", all_x, None)
    _log_rate_axis(ax, "y", all_y, None)
    if not len(all_x):
        _no_data(ax, "no non-zero error rates to show")
    elif curves:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    return fig


def false_candidates_vs_gallery_size(sizes: ArrayLike, rates: Mapping[str, ArrayLike],
                                     ci: Mapping[str, tuple[ArrayLike, ArrayLike]]
                                     | None = None, *,
                                     title: str = "Probes not in the gallery that still "
                                                  "get a false candidate") -> Figure:
    """Share of out-of-gallery probes (persons known NOT to be in the gallery) with at
    least one false candidate, against the number of persons in the gallery; one line per
    threshold label (e.g. "distance ≤ 0.6"), with `ci[label] = (low, high)` as a band
    (e.g. the 95 % Wilson interval). The x axis is logarithmic when the sizes span a
    factor of 20 or more.
    """
    x = _floats(sizes, "sizes")
    fig, ax = _new_figure(title)
    ax.set_xlabel("gallery size (persons in the gallery)")
    ax.set_ylabel("out-of-gallery probes with ≥ 1 false candidate")
    order = np.argsort(x, kind="stable")
    xs = x[order]
    for i, (label, values) in enumerate(rates.items()):
        y = _floats(values, f"rates of {label!r}")
        _same_length(sizes=x, rates=y)
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(xs, y[order], color=colour, linestyle=LINESTYLES[i % len(LINESTYLES)],
                marker=MARKERS[i % len(MARKERS)], markersize=4, linewidth=1.6,
                label=plain(label))
        if ci is not None and label in ci:
            low = _floats(ci[label][0], f"interval low of {label!r}")
            high = _floats(ci[label][1], f"interval high of {label!r}")
            _same_length(sizes=x, low=low, high=high)
            ax.fill_between(xs, low[order], high[order], color=colour, alpha=0.18,
                            linewidth=0)
    positive = xs[xs > 0]
    if len(positive) and float(positive.max()) / float(positive.min()) >= 20:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    else:  # persons are counted in whole numbers: no tick at "12.5" persons
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_percent_tick))
    ax.set_ylim(0, 1.02)
    if not len(xs) or not rates:
        _no_data(ax)
    else:
        legend_title = "candidate if" + (" (shaded: 95 % interval)" if ci else "")
        ax.legend(title=legend_title, title_fontsize=8, fontsize=8, frameon=False,
                  loc="best")
    return fig


def group_bars(groups: Sequence[str], values: ArrayLike, low: ArrayLike, high: ArrayLike,
               sizes: Sequence[int], ylabel: str, title: str, *,
               percent: bool = False) -> Figure:
    """One bar per group with its interval (`low`..`high`, e.g. 95 %) as an error bar and
    the group size under its name ("n = 412"). `percent` formats a share (0..1) axis as %.
    """
    v = _floats(values, "values")
    lo = _floats(low, "low")
    hi = _floats(high, "high")
    n = _floats(list(sizes), "sizes")
    _same_length(groups=np.zeros(len(groups)), values=v, low=lo, high=hi, sizes=n)
    fig, ax = _new_figure(title)
    ax.set_ylabel(plain(ylabel))
    ax.grid(False, axis="x")
    if not len(groups):
        _no_data(ax)
        return fig
    pos = np.arange(len(groups))
    yerr = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
    yerr = np.nan_to_num(yerr, nan=0.0)
    ax.bar(pos, v, color=GENUINE_COLOUR, alpha=0.85, width=0.65, yerr=yerr, capsize=4,
           error_kw={"ecolor": "#333333", "elinewidth": 1.1})
    labels = [f"{plain(g)}\nn = {int(size):,}" for g, size in zip(groups, sizes, strict=True)]
    ax.set_xticks(pos, labels)
    if len(groups) > 5 or max(len(g) for g in groups) > 14:
        for tick in ax.get_xticklabels():
            tick.set_rotation(30)
            tick.set_horizontalalignment("right")
    if percent:
        ax.yaxis.set_major_formatter(FuncFormatter(_percent_tick))
    ax.set_ylim(bottom=0)
    return fig


# --------------------------------------------------------------------------- rendering


def _svg_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # text as <text> (searchable, small, copyable in a report) and a fixed hash salt, so
    # the same figure renders to the same bytes; rc_context restores the settings after
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "facedesk"}):
        fig.savefig(buf, format="svg",
                    metadata={"Type": None, "Creator": None, "Format": None, "Date": None})
    return buf.getvalue()


def fig_to_bytes(fig: Figure, fmt: Literal["png", "svg"] = "png", *,
                 dpi: float = 150) -> bytes:
    """The figure rendered as PNG (Agg, `dpi`) or SVG (text kept as text), no display."""
    if fmt == "svg":
        return _svg_bytes(fig)
    if fmt == "png":
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()
    raise ValueError(f"format must be 'png' or 'svg', not {fmt!r}")


def save(fig: Figure, path: str | Path, *, dpi: float = 150) -> Path:
    """Write the figure to `path`, the format chosen by its suffix: .png, .svg or .pdf.
    Any other suffix raises ValueError (nothing is written)."""
    p = Path(path)
    fmt = _SUFFIX_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot save a figure as {p.name!r}: the file name must end in "
                         ".png, .svg or .pdf")
    # readable by its owner only: a plot may show a gallery's figures per group
    if fmt == "svg":
        private.write_bytes(p, _svg_bytes(fig))
    elif fmt == "png":
        private.write_bytes(p, fig_to_bytes(fig, "png", dpi=dpi))
    else:
        with private.owner_only():
            fig.savefig(p, format="pdf", metadata={"Creator": None, "Producer": None,
                                                   "CreationDate": None})
        private.restrict(p)
    return p
