"""CSV files a spreadsheet opens safely: a cell that starts with = + - @ or a control
character (a user id "=HYPERLINK(...)", a file name starting with a tab) would run as a
formula in Excel or LibreOffice, so it gets a leading apostrophe, which they hide. Every
CSV FaceDesk writes goes through `write_csv` (readable by its owner only)."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from facedesk.domain import private

FORMULA_STARTS = ("=", "+", "-", "@")


def spreadsheet_safe(value: object) -> str:
    """The cell's text, neutralised when a spreadsheet would read it as a formula (or
    when it starts with a control character). Numbers are left as they are."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    first = text[:1]
    if first and (first in FORMULA_STARTS or unicodedata.category(first) == "Cc"):
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow([spreadsheet_safe(h) for h in header])
    for row in rows:
        w.writerow([spreadsheet_safe(c) for c in row])
    return buf.getvalue()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a CSV with every cell neutralised, mode 0600."""
    private.write_text(path, csv_text(header, rows))
