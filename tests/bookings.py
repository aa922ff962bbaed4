"""Booking-style metadata for the search filters' tests (issue 18): manifests of photos
with sex, date of birth and booking date, some of them deliberately missing or unreadable.

- `congress_manifest`: real photos of ../shared/data/congress-2014 (their sex and their
  real birthdays as date_of_birth), with a made-up booking date each.
- `fake_manifest`: the fake engine's synthetic faces (tests/fakes.py), several bookings
  per person, so the age at booking differs from photo to photo.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from fakes import one_face, save_png

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CONGRESS = DATA / "congress-2014"
FIELDS = ("path", "person_id", "name", "sex", "date_of_birth", "booking_date")


def booking_date(i: int) -> str:
    """A made-up booking date: one every 11 days from 2014-01-05."""
    return (dt.date(2014, 1, 5) + dt.timedelta(days=11 * i)).isoformat()


def congress_manifest(out: Path, count: int = 40) -> Path:
    """A manifest of the first `count` members (paths relative to CONGRESS, the SOURCE
    to import it with): person 3 has no date of birth, person 7 an unreadable one
    ("1950-13-45"), the others their real birthday."""
    with (CONGRESS / "members.csv").open(newline="") as f:
        members = list(csv.DictReader(f))[:count]
    rows = []
    for i, m in enumerate(members):
        dob = "" if i == 3 else ("1950-13-45" if i == 7 else m["birthday"])
        rows.append({"path": m["path"],  # relative to CONGRESS: import with it as SOURCE
                     "person_id": m["person_id"], "name": m["name"], "sex": m["sex"],
                     "date_of_birth": dob, "booking_date": booking_date(i)})
    return _write(out, rows)


#: the fake gallery: person -> (sex, date of birth); person 4 has no date of birth
FAKE_PERSONS = {0: ("F", "1990-06-15"), 1: ("M", "1985-03-01"), 2: ("F", "1970-01-20"),
                3: ("M", "2000-12-31"), 4: ("F", "")}
#: each person's three bookings; person 3's last is unreadable
FAKE_BOOKINGS = ("2015-06-14", "2019-06-15", "2024-01-01")


def fake_manifest(folder: Path) -> Path:
    """5 persons x 3 bookings of the fake engine's faces, with manifest.csv beside them.
    Ages at the bookings: person 0 (F) 24, 29, 33; person 1 (M) 30, 34, 38; person 2 (F)
    45, 49, 53; person 3 (M) 14, 18, unreadable; person 4 (F) no date of birth."""
    rows = []
    for p, (sex, dob) in FAKE_PERSONS.items():
        for v, booked in enumerate(FAKE_BOOKINGS):
            path = save_png(one_face(p, v), folder / f"person_{p}" / f"{v}.png")
            rows.append({"path": str(path), "person_id": f"person_{p}", "name": "",
                         "sex": sex, "date_of_birth": dob,
                         "booking_date": "2024-13-01" if (p, v) == (3, 2) else booked})
    return _write(folder / "manifest.csv", rows)


def _write(out: Path, rows: list[dict[str, str]]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    return out
