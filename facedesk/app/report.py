"""A small self-contained HTML report: headings, paragraphs, tables, figures, face crops.

One file, no external resources (no fonts, scripts, style sheets or images fetched from
anywhere): figures are inlined as SVG (text kept as text, so it can be searched and
copied), images as base64 data URIs, the CSS is embedded and prints cleanly. Every piece
of text given to the report is HTML-escaped. HTML only: to get a PDF, print the page.

    report = Report("Accuracy on the Congress 2014 gallery", "813 photos of 540 persons")
    report.add_heading("Error rates")
    report.add_figure(plots.error_rates(t, fmr, fnmr), "FMR and FNMR at each threshold")
    report.write("accuracy.html")
"""

from __future__ import annotations

import base64
import html
import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.figure import Figure

from facedesk.domain import private
from facedesk.domain.plots import fig_to_bytes

__all__ = ["HEADER_LINE", "Report"]

HEADER_LINE = "FaceDesk accuracy report — measurements on the data at hand"
FOOTER_LINE = ("Scores are distances between face encodings. A candidate is an investigative "
               "lead only — not an identification.")

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       "DejaVu Sans", sans-serif; color: #1a1a1a; background: #fff; line-height: 1.45;
       max-width: 62rem; margin: 0 auto; padding: 1.5rem 2rem 3rem; font-size: 11pt; }
header { border-bottom: 2px solid #1a1a1a; margin-bottom: 1.5rem; padding-bottom: .6rem; }
header .kind { font-size: 9pt; letter-spacing: .02em; color: #444; margin: 0; }
h1 { font-size: 20pt; margin: .3rem 0 .2rem; }
h2 { font-size: 14pt; margin: 1.8rem 0 .5rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 12pt; margin: 1.3rem 0 .4rem; }
header .subtitle { font-size: 12pt; color: #333; margin: 0 0 .3rem; }
header .generated { font-size: 9pt; color: #555; margin: 0; }
p { margin: .5rem 0; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; font-size: 10pt; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
th, td { border: 1px solid #bbb; padding: .25rem .6rem; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 1.4rem; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 10pt; color: #333; margin-top: .3rem; }
.images { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.images figure { margin: 0; text-align: center; }
.images img { display: block; max-width: 16rem; max-height: 16rem; width: auto;
              height: auto; border: 1px solid #999; image-rendering: auto; }
footer { margin-top: 2.5rem; border-top: 1px solid #ccc; padding-top: .5rem;
         font-size: 9pt; color: #444; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  figure, table, .images { break-inside: avoid; page-break-inside: avoid; }
  @page { margin: 18mm 15mm; }
}
"""

_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.IGNORECASE)
_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _image_mime(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    raise ValueError("images must be JPEG or PNG bytes")


class Report:
    """An HTML report built block by block; `to_html()` or `write(path)` at the end."""

    def __init__(self, title: str, subtitle: str = "", *,
                 generated_at: datetime | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.generated_at = generated_at or datetime.now(UTC)
        self._blocks: list[str] = []
        self._figures = itertools.count(1)

    # ----------------------------------------------------------------- content

    def add_heading(self, text: str, level: int = 2) -> None:
        """A section heading, level 2 (section) or 3 (subsection); 1 is the title."""
        if level not in (2, 3):
            raise ValueError("heading level must be 2 or 3 (the report title is level 1)")
        self._blocks.append(f"<h{level}>{_e(text)}</h{level}>")

    def add_paragraph(self, text: str) -> None:
        """A paragraph of plain text (escaped; no markup is interpreted)."""
        self._blocks.append(f"<p>{_e(text)}</p>")

    def add_table(self, headers: Sequence[object], rows: Iterable[Sequence[object]],
                  caption: str | None = None) -> None:
        """A table; every cell is shown as `str(cell)`, escaped. Numbers align right."""
        parts = ["<table>"]
        if caption:
            parts.append(f"<caption>{_e(caption)}</caption>")
        parts.append("<thead><tr>" + "".join(f"<th scope=\"col\">{_e(h)}</th>"
                                              for h in headers) + "</tr></thead>")
        parts.append("<tbody>")
        for row in rows:
            cells = []
            for cell in row:
                numeric = isinstance(cell, int | float) and not isinstance(cell, bool)
                cls = ' class="num"' if numeric else ""
                cells.append(f"<td{cls}>{_e(cell)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
        self._blocks.append("".join(parts))

    def add_figure(self, fig: Figure, caption: str = "") -> None:
        """A figure, inlined as SVG so the report stays one file."""
        svg = self._inline_svg(fig_to_bytes(fig, "svg").decode("utf-8"), next(self._figures))
        cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
        self._blocks.append(f"<figure>{svg}{cap}</figure>")

    def add_images(self, images: Sequence[tuple[str, bytes]],
                   caption: str | None = None) -> None:
        """Images side by side, e.g. a probe face and a candidate face: (label, JPEG or
        PNG bytes) pairs, embedded as data URIs."""
        items = []
        for label, data in images:
            uri = f"data:{_image_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"
            items.append(f'<figure><img src="{uri}" alt="{_e(label)}">'
                         f"<figcaption>{_e(label)}</figcaption></figure>")
        cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
        self._blocks.append(f'<figure><div class="images">{"".join(items)}</div>{cap}</figure>')

    # ----------------------------------------------------------------- output

    @staticmethod
    def _inline_svg(svg: str, number: int) -> str:
        """SVG as an HTML element: no XML prolog or DOCTYPE (the DOCTYPE names a DTD by
        URL), and ids made unique per figure, as all figures share one document."""
        svg = _PROLOG.sub("", svg, count=1)
        prefix = f"fig{number}-"
        svg = _SVG_ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
        svg = _SVG_REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)
        return svg.strip()

    def to_html(self) -> str:
        stamp = self.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        subtitle = f'<p class="subtitle">{_e(self.subtitle)}</p>' if self.subtitle else ""
        body = "\n".join(self._blocks)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f'<header><p class="kind">{_e(HEADER_LINE)}</p>\n'
            f"<h1>{_e(self.title)}</h1>\n{subtitle}\n"
            f'<p class="generated">Generated {_e(stamp)}</p></header>\n'
            f"<main>\n{body}\n</main>\n"
            f"<footer>{_e(FOOTER_LINE)}</footer>\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report as one HTML file (.html or .htm)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".pdf":
            raise ValueError(f"cannot write {p.name!r}: reports are written as HTML only; "
                             "write a .html file and print it to PDF from a browser")
        if suffix not in (".html", ".htm"):
            raise ValueError(f"cannot write {p.name!r}: a report file name must end in .html")
        private.write_text(p, self.to_html())  # it embeds booking photos: owner only
        return p
