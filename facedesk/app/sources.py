"""Where photos come from: a folder per person, a flat folder, or a CSV manifest.

A source lists items (a file, the person it shows, its metadata) and the problems it
found while listing (bad manifest rows, paths outside the manifest's folder, symlink
loops, file names that are not text, ...). It reads no image data; that is the
importer's work.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facedesk.errors import ManifestError, SourceError
from facedesk.store import Problem

REQUIRED_COLUMNS = ("path", "person_id")
LAYOUTS = ("auto", "folders", "flat")
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp",
    ".pgm", ".ppm", ".pbm", ".pnm", ".jp2", ".avif",
})
#: a manifest is read whole; a bigger "manifest" is not a list of photos
MAX_MANIFEST_BYTES = 512 * 1024 * 1024


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


def _is_text(name: str) -> bool:
    """False for a file name whose bytes are not UTF-8 (Python keeps them as surrogates,
    which no database, JSON or terminal takes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 are shown as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _rel(path: Path, root: Path) -> str:
    try:
        return shown_name(str(path.relative_to(root)))
    except ValueError:
        return shown_name(str(path))


def _bad_name(path: Path, root: Path) -> Problem:
    return Problem(_rel(path, root), "bad_name",
                   "the file name is not valid UTF-8 text, so it cannot be stored; rename "
                   "the file")


def _folder_link(link: Path, root: Path) -> Problem:
    """The problem of a link to a folder found inside a person folder: never followed."""
    try:
        target = Path(os.path.realpath(link))
        here = Path(os.path.realpath(link.parent))
        shown = os.readlink(link)
    except (OSError, ValueError):  # pragma: no cover - the link was just listed
        return Problem(_rel(link, root), "not_followed", "link to a folder; not followed")
    if here == target or here.is_relative_to(target):
        return Problem(_rel(link, root), "symlink_loop",
                       f"link to {shown_name(shown)}, a folder that contains the link: a "
                       "symlink loop; not followed")
    return Problem(_rel(link, root), "not_followed",
                   f"link to the folder {shown_name(str(target))}; links to folders inside "
                   "a person folder are not followed (they may loop or lead anywhere)")


def _broken_link(link: Path, root: Path) -> Problem:
    """The problem of a link that leads nowhere: to nothing, or round in a loop."""
    try:
        shown = shown_name(os.readlink(link))
        os.stat(link)
    except FileNotFoundError:
        return Problem(_rel(link, root), "missing", f"link to {shown}, which does not exist")
    except OSError as exc:
        return Problem(_rel(link, root), "symlink_loop",
                       f"link that cannot be followed ({exc.strerror or exc}): a symlink loop")
    return Problem(_rel(link, root), "missing", "link that cannot be followed")


def _visible_files(folder: Path, root: Path, problems: list[Problem]) -> Iterator[Path]:
    """Files under `folder`, sorted, skipping hidden ones. Links to files are followed;
    links to folders are not (they may loop, or lead anywhere): each is reported, as a
    `symlink_loop` when it leads back to a folder that contains it. A sub-folder that
    cannot be listed and a name that is not UTF-8 text are reported too."""

    def cannot_list(err: OSError) -> None:
        where = Path(err.filename) if err.filename else folder
        problems.append(Problem(_rel(where, root), "unreadable",
                                f"folder cannot be read ({err.strerror or err})"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=cannot_list):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if not _is_text(d):
                problems.append(_bad_name(here / d, root))
            elif (here / d).is_symlink():
                problems.append(_folder_link(here / d, root))
            else:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if _is_text(name):
                yield here / name
            else:
                problems.append(_bad_name(here / name, root))


def _person_name(person_id: str) -> str:
    return person_id.replace("_", " ").strip()


def list_folders(root: Path) -> Listing:
    """One sub-folder per person (the LFW layout): the sub-folder's name is the person id."""
    items: list[Item] = []
    problems: list[Problem] = []
    real_root = Path(os.path.realpath(root))
    for entry in _entries(root):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink() and not entry.exists():
            problems.append(_broken_link(entry, root))
        elif not _is_text(entry.name):
            if entry.is_dir() or entry.suffix.lower() in IMAGE_SUFFIXES:
                problems.append(_bad_name(entry, root))
        elif entry.is_dir():
            # a symlinked person folder is followed (deeper links are not), unless it
            # leads back to the source folder or above it
            if entry.is_symlink() and real_root.is_relative_to(os.path.realpath(entry)):
                problems.append(Problem(
                    entry.name, "symlink_loop",
                    f"link to {shown_name(os.readlink(entry))}, a folder that contains "
                    "the source folder: a symlink loop; not followed"))
                continue
            for f in _visible_files(entry, root, problems):
                items.append(Item(path=f, display=str(f.relative_to(root)),
                                  person_id=entry.name, person_name=_person_name(entry.name)))
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            # a photo beside the person folders belongs to nobody; other files there
            # (README, a manifest, ...) are not photos and are left alone
            problems.append(Problem(str(entry.relative_to(root)), "not_in_person_folder",
                                    "file lies beside the person folders, not inside one"))
    return Listing("folders", root, items, problems)


def person_regex(person_pattern: str) -> re.Pattern[str]:
    """A flat folder's person pattern, checked (SourceError: not a regular expression, or
    no group to capture the person id); the import and its dialog both check with it."""
    try:
        regex = re.compile(person_pattern)
    except re.error as exc:
        raise SourceError(f"person pattern {person_pattern!r} is not valid: {exc}") from None
    if regex.groups == 0:
        raise SourceError(
            f"person pattern {person_pattern!r} needs a group, e.g. '(?P<person>\\d+)_'")
    return regex


def list_flat(root: Path, person_pattern: str | None = None) -> Listing:
    """Each photo its own person (person id = file name without extension), unless
    `person_pattern` (a regular expression searched in the file name, with a group named
    `person` or a first group) maps file names to person ids."""
    regex = person_regex(person_pattern) if person_pattern else None
    items: list[Item] = []
    problems: list[Problem] = []
    for f in _visible_files(root, root, problems):
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


def _entries(root: Path) -> list[Path]:
    try:
        return sorted(root.iterdir())
    except OSError as exc:
        raise SourceError(f"{root}: folder cannot be read ({exc.strerror or exc})") from None


def _check_root_name(root: Path) -> None:
    if not _is_text(str(root)):
        raise SourceError(f"{shown_name(str(root))}: the folder's path is not valid UTF-8 "
                          "text, so its photos' paths cannot be stored; rename it")


def list_folder(root: Path, layout: str = "auto", person_pattern: str | None = None) -> Listing:
    if not root.exists():
        raise SourceError(f"{shown_name(str(root))}: no such folder")
    if not root.is_dir():
        raise SourceError(f"{shown_name(str(root))}: not a folder (give a folder of photos "
                          "or a CSV manifest)")
    _check_root_name(root)
    if layout not in LAYOUTS:
        raise SourceError(f"layout must be one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        if person_pattern:
            layout = "flat"
        else:
            entries = [e for e in _entries(root) if not e.name.startswith(".")]
            has_dirs = any(e.is_dir() for e in entries)
            layout = "folders" if has_dirs else "flat"
    if layout == "folders":
        return list_folders(root)
    return list_flat(root, person_pattern)


def _manifest_text(csv_path: Path) -> str:
    """The manifest's text: UTF-8 (with or without a byte-order mark), UTF-16 with its
    byte-order mark (Excel's "Unicode text"), else Windows-1252."""
    shown = shown_name(str(csv_path))
    if not csv_path.is_file():
        if csv_path.is_dir():
            raise ManifestError(f"{shown}: is a folder, not a CSV manifest")
        if csv_path.exists():
            raise ManifestError(f"{shown}: not a regular file (a named pipe or a device?)")
        raise ManifestError(f"{shown}: manifest not found")
    try:
        size = csv_path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{shown}: {size / 1e6:.0f} MB is too large for a manifest "
                                f"(the limit is {MAX_MANIFEST_BYTES / 1e6:.0f} MB)")
        data = csv_path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ManifestError(f"{shown}: not a text file (expected UTF-8 CSV)") from None
    if "\x00" in _first_line(text):
        raise ManifestError(f"{shown}: not a text file (its first line holds NUL bytes: a "
                            "binary file, or UTF-16 text without its byte-order mark)")
    return text


def _first_line(text: str) -> str:
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]


def _csv_reader(text: str) -> Any:  # a csv reader (the type is private to the csv module)
    # the delimiter is the one the header line uses most (comma, semicolon or tab);
    # quoting is standard CSV ("" inside quotes). csv.Sniffer guesses quoting wrongly.
    delimiter = max(",;\t", key=_first_line(text).count)
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _swallowed_rows(row: list[str], delimiter: str, n_columns: int) -> bool:
    """Whether a row read over several lines holds, inside a quoted cell, whole lines
    that look like rows of their own: the mark of a quote left open."""
    return any(line.count(delimiter) >= n_columns - 1
               for cell in row if "\n" in cell or "\r" in cell
               for line in cell.splitlines()[1:])


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


@dataclass(frozen=True)
class HeaderProblem:
    """Why a manifest's header, read with a column mapping, cannot be imported."""

    #: "unknown": a mapped column is not in the header; "same_column": one column is
    #: mapped to two roles; "missing": required roles without a column; "duplicate":
    #: several columns would be read as one role
    kind: str
    names: tuple[str, ...]  # the columns (unknown) or roles (the others) concerned
    columns: tuple[str, ...]  # the header

    def message(self, csv_path: Path | str) -> str:
        found = ", ".join(self.columns) or "none"
        many = "s" if len(self.names) > 1 else ""
        if self.kind == "unknown":
            return (f"{csv_path}: no column named {', '.join(repr(n) for n in self.names)} "
                    f"(found: {found})")
        if self.kind == "same_column":
            return (f"{csv_path}: one column is mapped to {' and '.join(self.names)}: they "
                    "must be different columns")
        if self.kind == "missing":
            return (f"{csv_path}: missing required column{many} {', '.join(self.names)} "
                    f"(found: {found}); a manifest needs 'path' and 'person_id' columns, "
                    "other columns are kept as metadata")
        return f"{csv_path}: column{many} {', '.join(self.names)} appear more than once"


def header_roles(columns: Sequence[str], columns_map: Mapping[str, str] | None = None
                 ) -> list[str]:
    """What each header column is read as: its role when `columns_map` ({role: column},
    "" = none) maps it, else its name in lower case."""
    renamed = {v: k for k, v in (columns_map or {}).items() if v}
    return [renamed.get(c, c.lower()) for c in columns]


def header_problem(columns: Sequence[str], columns_map: Mapping[str, str] | None = None
                   ) -> HeaderProblem | None:
    """The header checks of a manifest (the one place they live: `read_manifest` and the
    import dialog's column mapping both use them), or None when it can be read."""
    mapping = {k: v for k, v in (columns_map or {}).items() if v}
    header = tuple(columns)
    unknown = tuple(v for v in mapping.values() if v not in columns)
    if unknown:
        return HeaderProblem("unknown", unknown, header)
    chosen = list(mapping.values())
    if len(set(chosen)) < len(chosen):
        return HeaderProblem("same_column", tuple(k for k, v in mapping.items()
                                                  if chosen.count(v) > 1), header)
    lowered = header_roles(columns, mapping)
    missing = tuple(c for c in REQUIRED_COLUMNS if c not in lowered)
    if missing:
        return HeaderProblem("missing", missing, header)
    dupes = tuple(sorted({c for c in lowered if c and lowered.count(c) > 1}))
    if dupes:
        return HeaderProblem("duplicate", dupes, header)
    return None


def read_manifest(csv_path: Path, base: Path | None = None,
                  columns_map: dict[str, str] | None = None,
                  allowed_roots: Sequence[str | Path] = ()) -> Listing:
    """A CSV manifest: `path` (relative to the manifest's folder, or to `base`),
    `person_id`, and any other columns kept as metadata. `columns_map` names the header
    columns that hold the path, the person id and the name when they are called
    otherwise, e.g. {"path": "File", "person_id": "Booking no."}. A manifest without the
    required columns is refused before anything is read further. A path may lead out of
    the manifest's folder (an absolute path, or ..) only into one of `allowed_roots`, the
    folders an administrator allowed (facedesk import-roots add)."""
    root = (base or csv_path.parent).resolve()
    allowed = [Path(os.path.realpath(r)) for r in allowed_roots]
    _check_root_name(root)
    reader = _csv_reader(_manifest_text(csv_path))
    columns = _header(csv_path, reader)
    problem = header_problem(columns, columns_map)
    if problem is not None:
        raise ManifestError(problem.message(csv_path))
    lowered = header_roles(columns, columns_map)
    i_path, i_person = lowered.index("path"), lowered.index("person_id")
    i_name = lowered.index("name") if "name" in lowered else None
    meta_cols = [(i, c) for i, c in enumerate(columns) if i not in (i_path, i_person) and c]
    items: list[Item] = []
    problems: list[Problem] = []
    delimiter = reader.dialect.delimiter
    end = reader.line_num  # the last line read so far; a row's line is its first one
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line_no, end = end + 1, reader.line_num
            problems.append(Problem(f"{csv_path.name}:{line_no}", "bad_row",
                                    f"line cannot be parsed: {exc}", line=line_no))
            continue
        line_no, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{csv_path.name}:{line_no}"
        if end > line_no and _swallowed_rows(row, delimiter, len(columns)):
            problems.append(Problem(
                where, "bad_row",
                f'a quote (") opened on line {line_no} is closed only on line {end}, so '
                f"lines {line_no}-{end} were read as one row and none of them is imported; "
                "close the quote", line=line_no))
            continue
        if len(row) != len(columns):
            problems.append(Problem(where, "bad_row",
                                    f"row has {len(row)} fields, the header has {len(columns)}",
                                    line=line_no))
            continue
        if any("\x00" in cell for cell in row):
            problems.append(Problem(where, "bad_row", "row holds a NUL character",
                                    line=line_no))
            continue
        rel, person = row[i_path].strip(), row[i_person].strip()
        if not rel or not person:
            empty = "path" if not rel else "person_id"
            problems.append(Problem(where, "bad_row", f"empty {empty}", line=line_no))
            continue
        full = _manifest_path(root, rel)
        try:
            resolved = Path(os.path.realpath(full))
        except (OSError, ValueError) as exc:
            problems.append(Problem(where, "bad_row", f"path cannot be used: {exc}",
                                    line=line_no))
            continue
        if not resolved.is_relative_to(root) and \
                not any(resolved.is_relative_to(a) for a in allowed):
            problems.append(Problem(
                rel, "outside_folder",
                f"path leads outside the manifest's folder {root} and the allowed import "
                f"folders: an administrator can allow its folder (facedesk import-roots "
                f"add {resolved.parent} --db GALLERY)", line=line_no))
            continue
        meta = {c: row[i].strip() for i, c in meta_cols}
        name = row[i_name].strip() if i_name is not None else None
        items.append(Item(path=Path(os.path.normpath(full)), display=rel, person_id=person,
                          person_name=name or None, metadata=meta, line=line_no))
    return Listing("manifest", root, items, problems)


def _manifest_path(root: Path, rel: str) -> Path:
    """The file a manifest's path names: relative to `root` unless absolute. A path
    written with Windows backslashes (photos\\a.jpg) is read with slashes when only that
    file exists."""
    candidate = Path(rel)
    full = candidate if candidate.is_absolute() else root / candidate
    if "\\" in rel and os.sep != "\\" and not os.path.lexists(full):
        alt = Path(rel.replace("\\", "/"))
        alt_full = alt if alt.is_absolute() else root / alt
        if os.path.lexists(alt_full):
            return alt_full
    return full


def read_probe_list(csv_path: Path) -> list[Path]:
    """The probe photos a CSV names in its `path` column (relative to the CSV's folder
    unless absolute), in order; other columns (person_id, sex, ...) may be there and are
    not needed to search. Paths are not checked here: each probe's search reports its own."""
    reader = _csv_reader(_manifest_text(csv_path))
    columns = [c.lower() for c in _header(csv_path, reader)]
    if "path" not in columns:
        raise ManifestError(f"{csv_path}: a probe list needs a 'path' column (found: "
                            f"{', '.join(columns) or 'none'})")
    i = columns.index("path")
    root = csv_path.parent
    try:
        rels = [row[i].strip() for row in reader if len(row) > i and row[i].strip()]
    except csv.Error as exc:
        raise ManifestError(f"{csv_path}: line {reader.line_num} cannot be read: {exc}"
                            ) from None
    if not rels:
        raise ManifestError(f"{csv_path}: names no probe photo")
    return [_manifest_path(root, rel) for rel in rels]
