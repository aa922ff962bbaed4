"""Search filters on the gallery's photo metadata: the one model, parser and mask.

A filter narrows a search to the faces whose photo's metadata passes every condition:

- `--where COL=VALUE` / `--where COL!=VALUE` (repeatable): equality of a metadata column,
  case-insensitive and trimmed; several values of one column are OR-ed
  (`--where sex=F --where sex=X`), different columns AND-ed.
- `--age LO-HI` (`25-40`, `25-`, `-40`, `30`; whole years, both ends included): the age
  at booking, in full years, from the photo's date of birth and booking date. The columns
  are `DOB_COLUMNS` and `BOOKING_COLUMNS`, the first the gallery has (or named).
- `--booked FROM..TO` (`2019-01-01..`, `..2020-12-31`, both ends included): the booking
  date.

Dates are ISO `YYYY-MM-DD` (a time after it is ignored). The filter is applied per face
(per booking photo): age at booking belongs to one booking. A person is searched when at
least one of their photos passes, and only the photos that pass are compared.

A photo that lacks a value a condition needs, or whose value cannot be read (an
unparseable date, a date of birth after the booking), is left out of the search and
counted under its reason (`FilterOutcome.left_out`: photos that pass every condition
their readable values decide, and the persons not searched that have one): it is never
silently dropped and never silently included.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.errors import FilterError

#: metadata columns read as the date of birth / the booking date, first found wins
DOB_COLUMNS = ("date_of_birth", "dob", "birth_date", "birthdate")
BOOKING_COLUMNS = ("booking_date", "booked", "booked_on", "date")

_MISSING = -1
_MALFORMED = -2
_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ].*)?\s*$")


# --- the model -------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """`column = value` (or `!=` with `negate`), case-insensitive."""

    column: str
    value: str
    negate: bool = False

    def describe(self) -> str:
        return f"{self.column}{'!=' if self.negate else '='}{self.value}"


@dataclass(frozen=True)
class SearchFilter:
    """What a search is narrowed to; an empty filter (`bool(f)` False) searches all."""

    where: tuple[Where, ...] = ()
    age: tuple[int | None, int | None] | None = None  # years at booking, both included
    booked: tuple[str | None, str | None] | None = None  # ISO dates, both included
    #: the columns read for age and booking date (None: the first of DOB_COLUMNS /
    #: BOOKING_COLUMNS the gallery has; `resolved` fills them in)
    dob_column: str | None = None
    booking_column: str | None = None

    def __bool__(self) -> bool:
        return bool(self.where) or self.age is not None or self.booked is not None

    def describe(self) -> str:
        """E.g. "sex=F, age 25-40, booked 2019-01-01.."; "" when empty."""
        parts = [w.describe() for w in self.where]
        if self.age is not None:
            lo, hi = self.age
            parts.append("age " + (f"{lo}" if lo == hi else
                                   f"{'' if lo is None else lo}-{'' if hi is None else hi}"))
        if self.booked is not None:
            a, b = self.booked
            parts.append(f"booked {a or ''}..{b or ''}")
        return ", ".join(parts)

    def needs_dob(self) -> bool:
        return self.age is not None

    def needs_booking(self) -> bool:
        return self.age is not None or self.booked is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": [{"column": w.column, "value": w.value, "negate": w.negate}
                      for w in self.where],
            "age": None if self.age is None else list(self.age),
            "booked": None if self.booked is None else list(self.booked),
            "dob_column": self.dob_column, "booking_column": self.booking_column,
            "text": self.describe(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchFilter:
        age, booked = d.get("age"), d.get("booked")
        return cls(
            where=tuple(Where(w["column"], w["value"], bool(w.get("negate")))
                        for w in d.get("where") or ()),
            age=None if age is None else (age[0], age[1]),
            booked=None if booked is None else (booked[0], booked[1]),
            dob_column=d.get("dob_column"), booking_column=d.get("booking_column"))

    def resolved(self, columns: Iterable[str]) -> SearchFilter:
        """This filter with its date columns named: the first of DOB_COLUMNS /
        BOOKING_COLUMNS among `columns` (the gallery's metadata columns), else the first
        of them (every photo then counts as lacking it)."""
        have = {c.lower(): c for c in columns}

        def pick(given: str | None, names: Sequence[str], needed: bool) -> str | None:
            if given is not None or not needed:
                return given
            return next((have[n] for n in names if n in have), names[0])

        return SearchFilter(self.where, self.age, self.booked,
                            pick(self.dob_column, DOB_COLUMNS, self.needs_dob()),
                            pick(self.booking_column, BOOKING_COLUMNS, self.needs_booking()))


# --- parsing ---------------------------------------------------------------------------


def parse_where(text: str) -> Where:
    """`sex=F` or `sex!=F`."""
    m = re.match(r"^\s*([^=!]+?)\s*(!?=)\s*(.*?)\s*$", text)
    if m is None or not m.group(1) or not m.group(3):
        raise FilterError(f"--where {text!r}: write COLUMN=VALUE or COLUMN!=VALUE "
                          "(e.g. sex=F)")
    return Where(m.group(1), m.group(3), m.group(2) == "!=")


def parse_age(text: str) -> tuple[int | None, int | None]:
    """`25-40`, `25-`, `-40` or `30` (whole years, both ends included)."""
    m = re.match(r"^\s*(\d{1,3})?\s*(-)?\s*(\d{1,3})?\s*$", text)
    if m is None or (m.group(1) is None and m.group(3) is None) or \
            (m.group(2) is None and m.group(3) is not None):
        raise FilterError(f"--age {text!r}: write an age range in years, e.g. 25-40, 25- "
                          "or -40")
    lo = None if m.group(1) is None else int(m.group(1))
    hi = lo if m.group(2) is None else (None if m.group(3) is None else int(m.group(3)))
    if lo is not None and hi is not None and lo > hi:
        raise FilterError(f"--age {text!r}: the lower age is above the upper one")
    return lo, hi


def parse_booked(text: str) -> tuple[str | None, str | None]:
    """`2019-01-01..`, `..2020-12-31` or `2019-01-01..2020-12-31` (both ends included)."""
    if ".." not in text:
        raise FilterError(f"--booked {text!r}: write a date range FROM..TO with ISO dates, "
                          "e.g. 2019-01-01.. or 2019-01-01..2020-12-31")
    a, b = (s.strip() or None for s in text.split("..", 1))
    if a is None and b is None:
        raise FilterError(f"--booked {text!r}: give at least one end of the range")
    for end in (a, b):
        if end is not None and _date_number(end) < 0:
            raise FilterError(f"--booked {text!r}: {end!r} is not a date (YYYY-MM-DD)")
    if a is not None and b is not None and _date_number(a) > _date_number(b):
        raise FilterError(f"--booked {text!r}: the range ends before it starts")
    return a, b


def parse(where: Sequence[str] = (), age: str | None = None, booked: str | None = None,
          dob_column: str | None = None, booking_column: str | None = None) -> SearchFilter:
    """The filter of the command line's --where/--age/--booked (typed errors: FilterError)."""
    return SearchFilter(tuple(parse_where(w) for w in where),
                        None if not age else parse_age(age),
                        None if not booked else parse_booked(booked),
                        dob_column or None, booking_column or None)


def _date_number(text: str) -> int:
    """YYYYMMDD of an ISO date, -2 if it is not one (-1 is kept for missing)."""
    m = _DATE.match(text)
    if m is None:
        return _MALFORMED
    try:
        d = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return _MALFORMED
    return d.year * 10000 + d.month * 100 + d.day


# --- the metadata as columns -----------------------------------------------------------


@dataclass
class Column:
    """One metadata column of every face: `codes[row]` indexes `values` (lower-cased,
    trimmed), -1 where the photo has no such value."""

    codes: NDArray[np.int32]
    values: list[str]
    labels: list[str] = field(default_factory=list)  # each value as first spelled
    _dates: NDArray[np.int32] | None = field(default=None, repr=False)

    def dates(self) -> NDArray[np.int32]:
        """Each row's date as YYYYMMDD, -1 missing, -2 unparseable (parsed per value)."""
        if self._dates is None:
            per_value = np.array([_date_number(v) for v in self.values] + [_MISSING],
                                 dtype=np.int32)
            self._dates = per_value[self.codes]  # code -1 reads the last: missing
        return self._dates


class FaceMetadata:
    """The photo metadata of every face of a search index, in its row order, as encoded
    columns (the rows' dicts are not kept: a million of them would hold hundreds of MB);
    built once per gallery version and kept with the index."""

    def __init__(self, rows: Sequence[dict[str, str]]) -> None:
        self.size = len(rows)
        self.names = sorted({k for r in rows for k in r})
        self._columns = {name: encode_column([r.get(name) for r in rows])
                         for name in self.names}
        self._scratch: _Scratch | None = None
        self._scratch_lock = threading.Lock()

    def column(self, name: str) -> Column:
        """A column (one the photos do not have: every row missing)."""
        col = self._columns.get(name)
        if col is None:
            col = encode_column([None] * self.size)
        return col

    @contextmanager
    def scratch(self) -> Iterator[_Scratch]:
        """Work arrays for `apply`, kept between filters: fresh gallery-sized arrays cost
        page faults (at a million rows, more than the comparisons themselves). A second
        thread meanwhile gets its own."""
        own = self._scratch_lock.acquire(blocking=False)
        try:
            if not own:
                yield _Scratch(self.size)
                return
            if self._scratch is None:
                self._scratch = _Scratch(self.size)
            yield self._scratch
        finally:
            if own:
                self._scratch_lock.release()

    def name_of(self, name: str) -> str:
        """The column as the photos spell it (column names are case-insensitive)."""
        if name in self.names:
            return name
        return next((n for n in self.names if n.lower() == name.strip().lower()), name)

    def choices(self, limit: int = 200) -> dict[str, list[str]]:
        """Every column with its distinct values (as first spelled, sorted; at most
        `limit`), for a picker."""
        return {name: sorted(self.column(name).labels, key=str.lower)[:limit]
                for name in self.names}


class _Scratch:
    """Gallery-sized work arrays of `apply` (see `FaceMetadata.scratch`)."""

    def __init__(self, n: int) -> None:
        self.fail = np.empty(n, dtype=np.bool_)
        self.unknown = np.empty(n, dtype=np.bool_)
        self.known = np.empty(n, dtype=np.bool_)
        self.tmp = np.empty(n, dtype=np.bool_)
        self.tmp2 = np.empty(n, dtype=np.bool_)
        self.diff = np.empty(n, dtype=np.int32)


def encode_column(raw: Sequence[str | None]) -> Column:
    """A column from one value per row (None or blank: missing)."""
    index: dict[str, int] = {}
    labels: list[str] = []
    codes = np.empty(len(raw), dtype=np.int32)
    for i, v in enumerate(raw):
        text = "" if v is None else str(v).strip()
        key = text.lower()
        if not key:
            codes[i] = -1
            continue
        code = index.setdefault(key, len(index))
        if code == len(labels):
            labels.append(text)
        codes[i] = code
    return Column(codes, list(index), labels)


# --- applying a filter -----------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    """Photos left out because a value a condition needs is missing or unreadable, though
    they pass every condition their readable values decide (they might be the person)."""

    reason: str  # e.g. "no date of birth (date_of_birth)"
    faces: int
    persons: int  # persons not searched at all that have such a photo

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "faces": self.faces, "persons": self.persons}


@dataclass(frozen=True)
class FilterOutcome:
    """What a filter kept of an index: a mask over its rows, with the counts."""

    filter: SearchFilter
    keep: NDArray[np.bool_]
    rows: NDArray[np.intp]  # the rows kept, ascending (np.flatnonzero(keep))
    faces_kept: int
    persons_kept: int
    faces_total: int
    persons_total: int
    left_out: tuple[LeftOut, ...]

    def summary(self) -> str:
        """E.g. "searched 4,120 of 61,000 persons (filter: sex=F, age 25-40)"."""
        return _searched(self.persons_kept, self.persons_total, self.filter.describe())

    def left_out_sentences(self) -> list[str]:
        """E.g. ["412 persons left out: no date of birth (dob), 430 photos"]."""
        return [_left_sentence(lo.persons, lo.reason, lo.faces) for lo in self.left_out]

    def as_dict(self) -> dict[str, Any]:
        return {**self.filter.as_dict(), "persons_searched": self.persons_kept,
                "faces_searched": self.faces_kept, "persons_in_gallery": self.persons_total,
                "faces_in_gallery": self.faces_total,
                "left_out": [lo.as_dict() for lo in self.left_out],
                "summary": self.summary()}


def apply(flt: SearchFilter, meta: FaceMetadata, row_persons: NDArray[np.int32],
          persons: int) -> FilterOutcome:
    """The rows of `meta` that pass `flt` (resolved against its columns first), and the
    persons kept and left out for each reason (`row_persons`: each row's person, 0 to
    `persons` - 1, non-decreasing: rows grouped by person; `SearchIndex.row_persons`).

    A few passes over the rows (a million in about 10 ms): `fail` marks the rows that
    fail a condition on values that were read, `unknown` those lacking a value; the
    reasons are told apart only among the unknown rows that fail nothing."""
    flt = flt.resolved(meta.names)
    with meta.scratch() as w:
        return _apply(flt, meta, row_persons, persons, w)


def _apply(flt: SearchFilter, meta: FaceMetadata, row_persons: NDArray[np.int32],
           persons: int, w: _Scratch) -> FilterOutcome:
    n = meta.size
    fail, unknown, known, tmp, tmp2 = w.fail, w.unknown, w.known, w.tmp, w.tmp2
    fail.fill(False)
    unknown.fill(False)
    lor, land, lnot = np.logical_or, np.logical_and, np.logical_not
    #: (reason, which of the given rows it applies to)
    reasons: list[tuple[str, Callable[[NDArray[np.intp]], NDArray[np.bool_]]]] = []
    by_column: dict[str, list[Where]] = {}
    for cond in flt.where:
        by_column.setdefault(meta.name_of(cond.column), []).append(cond)
    for name, conds in by_column.items():
        col = meta.column(name)
        np.less(col.codes, 0, out=tmp)  # missing
        lor(unknown, tmp, out=unknown)
        _passing(col, conds, out=tmp2)
        lnot(lor(tmp2, tmp, out=tmp2), out=tmp2)  # read, and not passing
        lor(fail, tmp2, out=fail)
        reasons.append((f"no {name}", _missing_among(col.codes)))
    if flt.needs_booking():
        assert flt.booking_column is not None
        booking = meta.column(flt.booking_column).dates()
        np.greater_equal(booking, 0, out=known)
        reasons.append((f"no booking date ({flt.booking_column})",
                        lambda i: booking[i] == _MISSING))
        reasons.append((f"unreadable booking date ({flt.booking_column})",
                        lambda i: booking[i] == _MALFORMED))
        if flt.booked is not None:
            a, b = flt.booked
            if a is not None:
                lor(fail, land(known, np.less(booking, _date_number(a), out=tmp), out=tmp),
                    out=fail)
            if b is not None:
                lor(fail, np.greater(booking, _date_number(b), out=tmp), out=fail)
        if flt.age is not None:
            assert flt.dob_column is not None
            dob = meta.column(flt.dob_column).dates()
            land(known, np.greater_equal(dob, 0, out=tmp), out=known)
            # YYYYMMDD numbers: their difference // 10000 is the age in full years, so
            # age >= lo is diff >= lo x 10000 and age <= hi is diff < (hi + 1) x 10000
            diff = np.subtract(booking, dob, out=w.diff)
            land(known, np.greater_equal(diff, 0, out=tmp), out=known)  # else born after
            reasons.append((f"no date of birth ({flt.dob_column})",
                            lambda i: dob[i] == _MISSING))
            reasons.append((f"unreadable date of birth ({flt.dob_column})",
                            lambda i: dob[i] == _MALFORMED))
            reasons.append((f"date of birth after the booking date ({flt.dob_column})",
                            lambda i: (dob[i] >= 0) & (booking[i] >= 0) & (diff[i] < 0)))
            lo, hi = flt.age
            tmp.fill(False)
            if lo is not None:
                np.less(diff, 10000 * lo, out=tmp)
            if hi is not None:
                lor(tmp, np.greater_equal(diff, 10000 * (hi + 1), out=tmp2), out=tmp)
            lor(fail, land(known, tmp, out=tmp), out=fail)
        lor(unknown, lnot(known, out=tmp), out=unknown)
    keep = lnot(lor(fail, unknown, out=tmp))
    rows = np.flatnonzero(keep)
    kept = _distinct(row_persons[rows])
    # photos lacking a value that pass every condition their readable values decide
    undecided = np.flatnonzero(land(unknown, lnot(fail, out=tmp), out=tmp))
    left: list[LeftOut] = []
    for reason, applies in reasons:
        these = undecided[applies(undecided)]
        if len(these):
            who = _distinct(row_persons[these])
            left.append(LeftOut(reason, len(these), int(np.count_nonzero(
                ~np.isin(who, kept, assume_unique=True)))))
    return FilterOutcome(flt, keep, rows, len(rows), len(kept), n, persons, tuple(left))


def _missing_among(codes: NDArray[np.int32]
                   ) -> Callable[[NDArray[np.intp]], NDArray[np.bool_]]:
    return lambda i: codes[i] < 0


def _passing(col: Column, conds: Sequence[Where], out: NDArray[np.bool_]
             ) -> NDArray[np.bool_]:
    """Into `out`: the rows whose value passes the conditions on `col` (values of =
    conditions are OR-ed, != conditions exclude). Comparisons of the codes, not a lookup
    table: one comparison of a million codes takes 0.2 ms, a table lookup 7 ms."""
    codes = col.codes
    wanted = [c for c in conds if not c.negate]
    out.fill(not wanted)
    scratch = np.empty(len(codes), dtype=np.bool_) if len(conds) > 1 or not wanted \
        else out
    for c in wanted:
        code = _code(col, c.value)
        if code >= 0:
            if scratch is out:
                np.equal(codes, code, out=out)
            else:
                np.logical_or(out, np.equal(codes, code, out=scratch), out=out)
    for c in conds:
        code = _code(col, c.value)
        if c.negate and code >= 0:
            np.logical_and(out, np.not_equal(codes, code, out=scratch), out=out)
    return out


def _distinct(ascending: NDArray[np.int32]) -> NDArray[np.int32]:
    """The distinct values of a non-decreasing array (rows are grouped by person)."""
    if len(ascending) == 0:
        return ascending
    return ascending[np.concatenate(([True], ascending[1:] != ascending[:-1]))]


def stored_summary(doc: dict[str, Any] | None) -> str:
    """A stored search's filter (`FilterOutcome.as_dict`) in one line: what was searched
    and what was left out; for a search with none, that every face was searched."""
    if not doc:
        return "none: every face of the gallery was searched"
    left = [_left_sentence(int(lo["persons"]), str(lo["reason"]), int(lo["faces"]))
            for lo in doc.get("left_out") or ()]
    return "; ".join([_searched(int(doc["persons_searched"]), int(doc["persons_in_gallery"]),
                                str(doc.get("text", ""))), *left])


def _searched(kept: int, total: int, text: str) -> str:
    return f"searched {kept:,} of {total:,} persons (filter: {text})"


def _left_sentence(persons: int, reason: str, faces: int) -> str:
    return (f"{persons:,} person{'' if persons == 1 else 's'} left out: {reason}, "
            f"{faces:,} photo{'' if faces == 1 else 's'}")


def _code(col: Column, value: str) -> int:
    key = value.strip().lower()
    try:
        return col.values.index(key)
    except ValueError:
        return -1
