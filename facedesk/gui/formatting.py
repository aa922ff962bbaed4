"""Small text formats shared by the window's panels and dialogs."""

from __future__ import annotations

from datetime import datetime


def when(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO time stamp in local time, e.g. '2026-11-22 14:05 PST'."""
    if not iso:
        return ""
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if dt.tzinfo is not None:
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z").strip()


def noun(n: int, word: str, many: str = "") -> str:
    """`word` for one, else its plural (`many`, or the word with an s)."""
    return word if n == 1 else many or word + "s"


def plural(n: int, word: str, many: str = "") -> str:
    """'1 candidate', '2 candidates', '1,204 persons', '3 searches' (many='searches')."""
    return f"{n:,} {noun(n, word, many)}"
