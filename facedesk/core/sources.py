"""Where photos come from: a folder per person, a flat folder, or a CSV manifest.

A source lists items (a file, the person it shows, its metadata) and the problems it
found while listing (bad manifest rows, paths outside the manifest's folder, ...). It
reads no image data; that is the importer's work.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facedesk.errors import ManifestError, SourceError
from facedesk.store import Problem

REQUIRED_COLUMNS = ("path", "person_id")
LAYOUTS = ("auto", "folders", "flat")
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp",
    ".pgm", ".ppm", ".pbm", ".pnm", ".jp2",
})


@dataclass(frozen=True)
class Item:
    path: Path  # absolute
    display: str  # as the user named it (relative to the source)
    person_id: str
    person_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    line: int | None = None  # manifest line number


@dataclass
class Listing:
    kind: str  # "folders" | "flat" | "manifest"
    root: Path
    items: list[Item]
    problems: list[Problem]

    @property
    def total(self) -> int:
        return len(self.items) + len(self.problems)


def _visible_files(folder: Path) -> Iterator[Path]:
    """Regular files under `folder`, sorted, skipping hidden ones; symlinked folders are
    not followed (no loops), symlinked files are."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _person_name(person_id: str) -> str:
    return person_id.replace("_", " ").strip()


def list_folders(root: Path) -> Listing:
    """One sub-folder per person (the LFW layout): the sub-folder's name is the person id."""
    items: list[Item] = []
    problems: list[Problem] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():  # a symlinked person folder is followed; deeper links are not
            for f in _visible_files(entry):
                items.append(Item(path=f, display=str(f.relative_to(root)),
                                  person_id=entry.name, person_name=_person_name(entry.name)))
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            # a photo beside the person folders belongs to nobody; other files there
            # (README, a manifest, ...) are not photos and are left alone
            problems.append(Problem(str(entry.relative_to(root)), "not_in_person_folder",
                                    "file lies beside the person folders, not inside one"))
    return Listing("folders", root, items, problems)


def list_flat(root: Path, person_pattern: str | None = None) -> Listing:
    """Each photo its own person (person id = file name without extension), unless
    `person_pattern` (a regular expression searched in the file name, with a group named
    `person` or a first group) maps file names to person ids."""
    regex = None
    if person_pattern:
        try:
            regex = re.compile(person_pattern)
        except re.error as exc:
            raise SourceError(f"person pattern {person_pattern!r} is not valid: {exc}") \
                from None
        if regex.groups == 0:
            raise SourceError(
                f"person pattern {person_pattern!r} needs a group, e.g. '(?P<person>\\d+)_'"
            )
    items: list[Item] = []
    problems: list[Problem] = []
    for f in _visible_files(root):
        rel = str(f.relative_to(root))
        if regex is None:
            person = f.stem
        else:
            m = regex.search(f.name)
            person = (m.groupdict().get("person") or m.group(1)) if m else ""
            if not person:
                problems.append(Problem(rel, "no_person",
                                        f"file name does not match the person pattern "
                                        f"{person_pattern!r}"))
                continue
        items.append(Item(path=f, display=rel, person_id=person, person_name=None))
    return Listing("flat", root, items, problems)


def list_folder(root: Path, layout: str = "auto", person_pattern: str | None = None) -> Listing:
    if not root.exists():
        raise SourceError(f"{root}: no such folder")
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder (give a folder of photos or a CSV manifest)")
    if layout not in LAYOUTS:
        raise SourceError(f"layout must be one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        if person_pattern:
            layout = "flat"
        else:
            entries = [e for e in root.iterdir() if not e.name.startswith(".")]
            has_dirs = any(e.is_dir() for e in entries)
            layout = "folders" if has_dirs else "flat"
    if layout == "folders":
        return list_folders(root)
    return list_flat(root, person_pattern)


def _manifest_text(csv_path: Path) -> str:
    if not csv_path.is_file():
        raise ManifestError(f"{csv_path}: manifest not found")
    try:
        return csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        try:
            return csv_path.read_text(encoding="cp1252")
        except UnicodeDecodeError:
            raise ManifestError(f"{csv_path}: not a text file (expected UTF-8 CSV)") from None
    except OSError as exc:
        raise ManifestError(f"{csv_path}: cannot be read ({exc.strerror or exc})") from None


def _csv_reader(text: str) -> Any:  # a csv reader (the type is private to the csv module)
    # the delimiter is the one the header line uses most (comma, semicolon or tab);
    # quoting is standard CSV ("" inside quotes). csv.Sniffer guesses quoting wrongly.
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _header(csv_path: Path, reader: Iterator[list[str]]) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError(f"{csv_path}: the manifest is empty") from None
    except csv.Error as exc:
        raise ManifestError(f"{csv_path}: header line cannot be read: {exc}") from None
    return [h.strip() for h in header]


def manifest_preview(csv_path: Path, rows: int = 5) -> tuple[list[str], list[list[str]]]:
    """The header and the first `rows` rows, for a column-mapping dialog."""
    reader = _csv_reader(_manifest_text(csv_path))
    columns = _header(csv_path, reader)
    out: list[list[str]] = []
    try:
        for row in reader:
            if len(out) >= rows:
                break
            out.append(row)
    except csv.Error:
        pass
    return columns, out


def read_manifest(csv_path: Path, base: Path | None = None,
                  columns_map: dict[str, str] | None = None) -> Listing:
    """A CSV manifest: `path` (relative to the manifest's folder, or to `base`),
    `person_id`, and any other columns kept as metadata. `columns_map` names the header
    columns that hold the path, the person id and the name when they are called
    otherwise, e.g. {"path": "File", "person_id": "Booking no."}. A manifest without the
    required columns is refused before anything is read further."""
    root = (base or csv_path.parent).resolve()
    reader = _csv_reader(_manifest_text(csv_path))
    columns = _header(csv_path, reader)
    mapping = {k: v for k, v in (columns_map or {}).items() if v}
    unknown = [f"{v!r}" for v in mapping.values() if v not in columns]
    if unknown:
        raise ManifestError(f"{csv_path}: no column named {', '.join(unknown)} "
                            f"(found: {', '.join(columns) or 'none'})")
    renamed = {v: k for k, v in mapping.items()}
    lowered = [renamed.get(c, c.lower()) for c in columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in lowered]
    if missing:
        raise ManifestError(
            f"{csv_path}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (found: {', '.join(columns) or 'none'}); a manifest needs "
            "'path' and 'person_id' columns, other columns are kept as metadata"
        )
    dupes = sorted({c for c in lowered if c and lowered.count(c) > 1})
    if dupes:
        raise ManifestError(f"{csv_path}: column{'s' if len(dupes) > 1 else ''} "
                            f"{', '.join(dupes)} appear more than once")
    i_path, i_person = lowered.index("path"), lowered.index("person_id")
    i_name = lowered.index("name") if "name" in lowered else None
    meta_cols = [(i, c) for i, c in enumerate(columns) if i not in (i_path, i_person) and c]
    items: list[Item] = []
    problems: list[Problem] = []
    line_no = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line_no += 1
            problems.append(Problem(f"{csv_path.name}:{line_no}", "bad_row",
                                    f"line cannot be parsed: {exc}", line=line_no))
            continue
        line_no = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{csv_path.name}:{line_no}"
        if len(row) != len(columns):
            problems.append(Problem(where, "bad_row",
                                    f"row has {len(row)} fields, the header has {len(columns)}",
                                    line=line_no))
            continue
        rel, person = row[i_path].strip(), row[i_person].strip()
        if not rel or not person:
            empty = "path" if not rel else "person_id"
            problems.append(Problem(where, "bad_row", f"empty {empty}", line=line_no))
            continue
        candidate = Path(rel)
        full = (candidate if candidate.is_absolute() else root / candidate)
        resolved = Path(os.path.realpath(full))
        if not resolved.is_relative_to(root):
            problems.append(Problem(rel, "outside_folder",
                                    f"path leads outside the manifest's folder {root}",
                                    line=line_no))
            continue
        meta = {c: row[i].strip() for i, c in meta_cols}
        name = row[i_name].strip() if i_name is not None else None
        items.append(Item(path=full, display=rel, person_id=person, person_name=name or None,
                          metadata=meta, line=line_no))
    return Listing("manifest", root, items, problems)
