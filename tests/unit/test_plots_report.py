"""facedesk.domain.plots (Figures without pyplot or Qt) and facedesk.app.report (one-file
HTML): every plot builds from small synthetic data and renders to PNG and SVG; log axes
survive zero rates; save() picks the format by suffix; the report escapes text, inlines
figures and fetches nothing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from facedesk.app.report import HEADER_LINE, Report
from facedesk.domain import plots
from facedesk.domain.rates import BIN_WIDTH, MAX_DISTANCE

PACKAGE = Path(__file__).resolve().parents[2] / "facedesk"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_BYTES = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")

rng = np.random.default_rng(7)


def svg_text(fig: Figure) -> str:
    root = ET.fromstring(plots.fig_to_bytes(fig, "svg"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return " ".join("".join(root.itertext()).split())


def assert_renders(fig: Figure, *texts: str) -> None:
    assert isinstance(fig, Figure)
    png = plots.fig_to_bytes(fig, "png")
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    text = svg_text(fig)
    for t in texts:
        assert " ".join(t.split()) in text, f"{t!r} not in the SVG text"


def distances() -> tuple[np.ndarray, np.ndarray]:
    genuine = np.clip(rng.normal(0.42, 0.08, 400), 0, None)
    impostor = np.clip(rng.normal(0.80, 0.08, 20_000), 0, None)
    return genuine, impostor


def calibration_counts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bins = round(MAX_DISTANCE / BIN_WIDTH) + 1  # as rates.measure bins them
    genuine, impostor = distances()
    idx_g = np.minimum((genuine / BIN_WIDTH).astype(np.int64), bins - 1)
    idx_i = np.minimum((impostor / BIN_WIDTH).astype(np.int64), bins - 1)
    edges = np.arange(bins + 1) * BIN_WIDTH
    return (edges, np.bincount(idx_g, minlength=bins), np.bincount(idx_i, minlength=bins))


def rates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edges, gen, imp = calibration_counts()
    t = edges[1:]
    fmr = np.cumsum(imp) / imp.sum()  # zero below the closest impostor pair
    fnmr = 1 - np.cumsum(gen) / gen.sum()  # zero beyond the farthest genuine pair
    return t, fmr, fnmr


# --------------------------------------------------------------------------- plots


def test_distance_histograms_from_raw_distances() -> None:
    genuine, impostor = distances()
    fig = plots.distance_histograms(genuine, impostor, thresholds=(0.5, 0.6))
    assert_renders(fig, plots.DISTANCE_LABEL, "genuine pairs (same person), n = 400",
                   "impostor pairs (different persons), n = 20,000", "threshold 0.6",
                   "threshold 0.5")


def test_distance_histograms_from_calibration_bins_merged_for_display() -> None:
    edges, gen, imp = calibration_counts()
    fig = plots.distance_histograms_binned(edges, gen, imp, log_density=True)
    assert_renders(fig, "density (share of pairs per unit distance), log scale",
                   "threshold 0.6")
    steps = [p for p in fig.axes[0].patches if isinstance(p, StepPatch)]
    assert steps
    for step in steps:  # 1601 bins of 0.001 are shown as 161 bins of 0.01
        edges_shown = step.get_data().edges
        assert len(edges_shown) - 1 <= plots.MAX_DISPLAY_BINS
        assert np.allclose(np.diff(edges_shown)[:-1], 0.01)
    with pytest.raises(ValueError, match="len"):
        plots.distance_histograms_binned(edges[:-1], gen, imp)


def test_distance_histograms_without_pairs() -> None:
    assert_renders(plots.distance_histograms([], []), "no pairs to show")


def test_error_rates_with_zero_rates_on_the_log_axis() -> None:
    t, fmr, fnmr = rates()
    assert (fmr == 0).any() and (fnmr == 0).any()
    fig = plots.error_rates(t, fmr, fnmr, marks=(0.6,))
    assert_renders(fig, "error rate (share of pairs, log scale)",
                   "false match rate (FMR)", "false non-match rate (FNMR)", "threshold 0.6",
                   "rates of 0 are not drawn on the log axis")
    low, high = fig.axes[0].get_ylim()
    assert 0 < low < high and fig.axes[0].get_yscale() == "log"
    # all zero: still a figure, with a finite log axis
    zero = np.zeros_like(t)
    fig = plots.error_rates(t, zero, zero)
    assert_renders(fig, "false match rate (FMR)")
    assert all(np.isfinite(fig.axes[0].get_ylim()))


def test_det_curve_several_groups_with_zeros() -> None:
    _, fmr, fnmr = rates()
    fig = plots.det_curve({"all": (fmr, fnmr), "women": (np.minimum(fmr * 3, 1), fnmr)},
                          points=[(0.004, 0.01, "distance ≤ 0.6")])
    assert_renders(fig, "false match rate (FMR, share of impostor pairs, log scale)",
                   "false non-match rate (FNMR, log scale)", "all", "women", "distance ≤ 0.6")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert_renders(plots.det_curve({"all": ([0.0, 0.0], [1.0, 0.0])}),
                   "no non-zero error rates to show")


def test_false_candidates_vs_gallery_size() -> None:
    sizes = np.array([10, 100, 1000, 10_000])
    r = {"distance ≤ 0.6": np.array([0.04, 0.3, 0.95, 1.0]),
         "distance ≤ 0.5": np.array([0.0, 0.0, 0.02, 0.2])}
    ci = {k: (np.clip(v - 0.05, 0, 1), np.clip(v + 0.05, 0, 1)) for k, v in r.items()}
    fig = plots.false_candidates_vs_gallery_size(sizes, r, ci)
    assert_renders(fig, "gallery size (persons in the gallery)",
                   "out-of-gallery probes with ≥ 1 false candidate", "distance ≤ 0.6",
                   "distance ≤ 0.5", "95 % interval")
    assert fig.axes[0].get_xscale() == "log"
    narrow = plots.false_candidates_vs_gallery_size([100, 200, 400], {"d ≤ 0.6": [0.1, .2, .3]})
    assert narrow.axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="same length"):
        plots.false_candidates_vs_gallery_size(sizes, {"x": [0.1, 0.2]})


def test_group_bars_show_group_sizes() -> None:
    fig = plots.group_bars(["men", "women", "<unknown>"], [0.004, 0.009, 0.006],
                           [0.003, 0.007, 0.002], [0.005, 0.011, 0.012], [4120, 412, 31],
                           ylabel="false match rate at distance ≤ 0.6",
                           title="False match rate per group", percent=True)
    assert_renders(fig, "false match rate at distance ≤ 0.6", "False match rate per group",
                   "n = 412", "n = 4,120", "<unknown>")
    with pytest.raises(ValueError):
        plots.group_bars(["a"], [0.1, 0.2], [0.0, 0.1], [0.2, 0.3], [5, 6], "y", "t")


def test_format_rate() -> None:
    assert plots.format_rate(0) == "0"
    assert plots.format_rate(0.0412) == "4.1 %"
    assert plots.format_rate(0.153) == "15 %"
    assert plots.format_rate(1.0) == "100 %"
    assert plots.format_rate(1 / 10_753) == "1 in 11,000"


def test_figures_do_not_touch_pyplot_global_state() -> None:
    code = ("import sys, numpy as np; from facedesk.domain import plots;"
            "from facedesk.app import report;"
            "plots.fig_to_bytes(plots.error_rates([0.5, 0.6], [0, 0.01], [0.1, 0]), 'png');"
            "print(sorted(m for m in ('matplotlib.pyplot', 'PySide6', "
            "'matplotlib.backends.backend_qtagg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- save


@pytest.mark.parametrize(("suffix", "magic"), [(".png", PNG_SIGNATURE), (".svg", b"<?xml"),
                                               (".pdf", b"%PDF"), (".PNG", PNG_SIGNATURE)])
def test_save_by_suffix(tmp_path: Path, suffix: str, magic: bytes) -> None:
    fig = plots.group_bars(["a", "b"], [0.2, 0.3], [0.1, 0.2], [0.3, 0.4], [10, 20], "y", "t")
    path = plots.save(fig, tmp_path / f"figure{suffix}")
    assert path.read_bytes().startswith(magic) and path.stat().st_size > 1000


def test_save_refuses_other_suffixes(tmp_path: Path) -> None:
    fig = plots.distance_histograms([0.3, 0.4], [0.8, 0.9])
    for name in ("figure.txt", "figure", "figure.jpg"):
        with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
            plots.save(fig, tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        plots.fig_to_bytes(fig, "gif")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- report


def build_report() -> Report:
    t, fmr, fnmr = rates()
    report = Report("Accuracy <script>alert(1)</script>", "subtitle & <b>bold</b>",
                    generated_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC))
    report.add_heading("Error rates <script>")
    report.add_paragraph("Text with <script>alert('p')</script> & ampersand")
    report.add_table(["group", "<th>", "FMR"],
                     [["women", "<script>alert('cell')</script>", 0.004], ["men", "x", 12]],
                     caption="Per group <i>")
    report.add_figure(plots.error_rates(t, fmr, fnmr), "FMR and FNMR <caption>")
    report.add_figure(plots.det_curve({"all": (fmr, fnmr)}), "DET")
    report.add_images([("probe <face>", JPEG_BYTES), ("candidate 1", JPEG_BYTES)],
                      caption="Side by side")
    return report


def test_report_escapes_text_and_table_cells() -> None:
    page = build_report().to_html()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;p&#x27;)&lt;/script&gt; &amp; ampersand" in page
    assert "<td>&lt;script&gt;alert(&#x27;cell&#x27;)&lt;/script&gt;</td>" in page
    assert "<th scope=\"col\">&lt;th&gt;</th>" in page
    assert '<td class="num">0.004</td>' in page
    assert HEADER_LINE in page and "2025-03-01 12:30 UTC" in page
    assert "<b>" not in page and "<i>" not in page


def test_report_inlines_figures_and_images_and_fetches_nothing() -> None:
    page = build_report().to_html()
    assert page.count("<svg") == 2 and "<?xml" not in page and "<!DOCTYPE svg" not in page
    assert page.count("data:image/jpeg;base64,") == 2
    assert "false non-match rate (FNMR)" in page  # SVG text kept as text
    # the only URLs are SVG namespace names, which nothing fetches
    for m in re.finditer(r"https?:", page):
        before = page[max(0, m.start() - 14):m.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), page[m.start() - 40:m.start() + 60]
    for tag in ("<link", "<script", "<iframe", "@import", "src=\"http", "url(http"):
        assert tag not in page.lower()
    # figures share one document: their ids must not collide, references must resolve
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', page))
    assert refs and refs <= set(ids)


def test_report_writes_html_only(tmp_path: Path) -> None:
    report = build_report()
    out = report.write(tmp_path / "accuracy.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "FaceDesk accuracy report" in text
    with pytest.raises(ValueError, match="HTML only"):
        report.write(tmp_path / "accuracy.pdf")
    with pytest.raises(ValueError):
        report.write(tmp_path / "accuracy.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.html"]
    with pytest.raises(ValueError, match="JPEG or PNG"):
        report.add_images([("x", b"GIF89a")])


# --------------------------------------------------------------------------- boundary


FORBIDDEN = ("matplotlib.pyplot", "matplotlib.backends.backend_qt", "matplotlib.pylab",
             "pylab")


def forbidden_imports(source: str, where: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, where)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "use" and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in ("matplotlib", "mpl"):
            names = ["matplotlib.use()"]  # picking a backend is the GUI's business
        found += [f"{where}: {n}" for n in names
                  if n.startswith(FORBIDDEN) or n == "matplotlib.use()"]
    return found


def test_no_pyplot_or_qt_canvas_outside_the_gui() -> None:
    """import-linter cannot forbid submodules of an external package (pyproject.toml),
    so this checks it: core, store and CLI build Figure objects, never pyplot."""
    sources = [p for p in PACKAGE.rglob("*.py") if "gui" not in p.relative_to(PACKAGE).parts]
    assert PACKAGE / "domain" / "plots.py" in sources
    broken = [b for p in sources
              for b in forbidden_imports(p.read_text(), str(p.relative_to(PACKAGE.parent)))]
    assert broken == []


@pytest.mark.parametrize("snippet", ["import matplotlib.pyplot as plt",
                                     "from matplotlib import pyplot",
                                     "from matplotlib.backends.backend_qtagg import X",
                                     "import matplotlib\nmatplotlib.use('QtAgg')"])
def test_boundary_check_finds_pyplot(snippet: str) -> None:
    assert forbidden_imports(snippet, "facedesk/domain/example.py") != []
    assert forbidden_imports("from matplotlib.figure import Figure", "x.py") == []
