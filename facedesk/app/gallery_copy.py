"""`facedesk gallery copy SRC DST`: a whole gallery copied to another store (a SQLite file
or a PostgreSQL database, either way), checked on both sides.

What it does, in order:

1. opens the destination and refuses it unless it is empty (a new file, or a gallery
   that holds nothing yet: the meta rows a new gallery writes for itself do not count);
2. logs the copy in the SOURCE's audit log (kind "gallery_copy": from, to, who) BEFORE
   reading it, so that the event is part of what is copied: both galleries then hold
   the same chain, event for event, ending at the same head. Logging it in the
   destination afterwards would give the copy a head the source never had (and the
   source no trace that its data left); logging it in the source afterwards would make
   the copy an "older copy" of its source to the external witness. The copy keeps the
   gallery's id (the chain starts from it): it is the same gallery, moved. Use one of
   the two afterwards, not both (the witness would see their logs fork);
3. copies every table, in foreign-key order, ids kept, from ONE read snapshot of the
   source, in ONE write transaction of the destination, summing each table up on the
   source's side as it is read (rows, digest: facedesk.store.copy); then, in the same
   transaction, reads the destination back and sums it up the same way: a table whose
   count or digest differs fails the copy, and nothing is committed. PostgreSQL's identity
   sequences are moved past the copied ids;
4. after the commit: `audit.verify_steps` on the destination (chain, schema, every
   record digest against its event) and on the source's chain, and the destination's head
   is the snapshot's head.

Cancelled (the token, Ctrl-C) or failed, a copy leaves no half-written destination: the
write transaction is rolled back; a SQLite destination is written under a temporary name
(`DST.copy-PID.part`) and only renamed to DST once everything verified. A PostgreSQL
destination cancelled during step 4 keeps the copy, which step 3 already checked row for
row; the "cancelled" event says so (`audit verify` finishes the check).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facedesk.app import audit
from facedesk.domain.progress import CancelToken
from facedesk.errors import CopyError
from facedesk.store import Gallery
from facedesk.store import audit_log as log
from facedesk.store import copy as store_copy
from facedesk.store.copy import Sums
from facedesk.store.db import DbError
from facedesk.store.postgres import is_server_location, public_location


def display(target: str | Path) -> str:
    """A gallery's name as it may be shown and logged: a URL without its password."""
    return public_location(str(target)) if is_server_location(target) else str(target)


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    copy_rows: int
    source_digest: str
    copy_digest: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_digest) == (self.copy_rows, self.copy_digest)


@dataclass(frozen=True)
class CopyResult:
    source: str
    destination: str
    gallery_id: str
    head_seq: int | None
    head_hash: str | None
    events: int
    tables: tuple[TableCheck, ...]

    @property
    def rows(self) -> int:
        return sum(t.copy_rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination,
                "gallery_id": self.gallery_id, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "events": self.events, "rows": self.rows,
                "tables": {t.table: {"rows": t.copy_rows, "digest": t.copy_digest}
                           for t in self.tables},
                "verified": True}


@dataclass(frozen=True)
class CopyProgress:
    """`phase`: "copying" (done/total rows, `table` the one being copied), "checking" (the
    copy read back: done/total rows), "verifying" (the audit chains: `table` names the
    side, done/total events), then "finished" with `result`, or "cancelled" (`note` says
    what the destination holds)."""

    phase: str
    table: str = ""
    done: int = 0
    total: int = 0
    result: CopyResult | None = None
    note: str = ""


class _Cancelled(Exception):
    pass


def _part_path(dst: Path) -> Path:
    return dst.with_name(f"{dst.name}.copy-{os.getpid()}.part")


def _remove_file(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(OSError):
            p.unlink()


def _open_destination(destination: str | Path) -> tuple[Gallery, Path | None]:
    """The destination opened for the copy, and for a SQLite file the temporary file
    the copy is written to (None for PostgreSQL). Refuses a destination with data."""
    if is_server_location(destination):
        gallery = Gallery.open(destination, create=True)
        part: Path | None = None
    else:
        dst = Path(destination)
        if dst.is_dir():
            raise CopyError(f"{dst}: is a folder; name the new gallery file")
        if dst.exists() and dst.stat().st_size > 0:
            with Gallery.open(dst) as existing:
                _refuse_data(existing, dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        part = _part_path(dst)
        _remove_file(part)
        gallery = Gallery.open(part, create=True)
    try:
        _refuse_data(gallery, destination)
    except BaseException:
        gallery.close()
        if part is not None:
            _remove_file(part)
        raise
    return gallery, part


def _refuse_data(gallery: Gallery, destination: str | Path) -> None:
    held = store_copy.data_tables(gallery)
    if held:
        raise CopyError(f"{display(destination)} is not empty (it holds {', '.join(held)}): "
                        "a gallery is copied only into a new, empty one")


def copy_gallery(source: Gallery, destination: str | Path, *, user_id: str | None = None,
                 source_name: str | None = None, cancel: CancelToken | None = None
                 ) -> Iterator[CopyProgress]:
    """Copy `source` into `destination` (a SQLite path or a postgresql:// URL) as the
    module's text says; the last event is "finished" with the checked result, or
    "cancelled". Raises CopyError when the destination is not empty or the copy does not
    verify (nothing is left in the destination then)."""
    cancel = cancel or CancelToken()
    src_name = display(source_name or source.location)
    dst_name = display(destination)
    dst, part = _open_destination(destination)
    committed = False
    installed = False
    try:
        try:
            audit.record(source, "gallery_copy", {"from": src_name, "to": dst_name},
                         user_id=user_id)
            try:
                sums, head = yield from _copy_rows(source, dst, cancel)
            except DbError as exc:
                detail = " ".join(str(exc).split()) or type(exc).__name__
                raise CopyError(f"{dst_name}: the copy could not be written ({detail}): "
                                "nothing was written. Copy into a new, empty gallery as "
                                "its owner (on a server: the login that created the "
                                "database)") from None
            committed = True
            events = yield from _verify_chains(source, dst, head, cancel)
        except CopyError as exc:
            if committed and part is None:
                raise CopyError(f"{exc.message} (the copy in {dst_name} was committed: "
                                "drop that database before copying again)") from None
            raise
        except _Cancelled:
            note = "nothing was written" if not committed or part is not None else (
                f"the copy in {dst_name} is complete and was checked row for row against "
                "the source, but its audit chain was not verified: run facedesk audit "
                "verify on it")
            yield CopyProgress("cancelled", note=note)
            return
        checks = tuple(TableCheck(t, sums[0].tables[t].rows, sums[1].tables[t].rows,
                                  sums[0].tables[t].digest, sums[1].tables[t].digest)
                       for t in sums[0].tables)
        result = CopyResult(src_name, dst_name, source.gallery_id,
                            None if head is None else head[0],
                            None if head is None else head[1], events, checks)
        dst.close()
        if part is not None:
            final = Path(destination)
            _remove_file(final)  # an empty gallery (checked above), or nothing
            os.replace(part, final)
        installed = True
        yield CopyProgress("finished", done=result.rows, total=result.rows, result=result)
    finally:
        dst.close()
        if part is not None and not installed:
            _remove_file(part)


def _copy_rows(source: Gallery, dst: Gallery, cancel: CancelToken
               ) -> Generator[CopyProgress, None,
                              tuple[tuple[Sums, Sums], tuple[int, str] | None]]:
    """Steps 3 of the module's text; returns ((source sums, copy sums), head)."""
    src_sums, dst_sums = Sums(), Sums()
    with source.read(), dst.write() as conn:
        counts = store_copy.row_counts(source)
        total = sum(counts.values())
        head = log.last_link(source)
        done = 0
        with contextlib.closing(store_copy.copy_tables(source, conn, src_sums)) as steps:
            for name, n in steps:
                done += n
                yield CopyProgress("copying", name, done, total)
                if cancel.cancelled:
                    raise _Cancelled
        checked = 0
        for table in store_copy.tables():
            dst_sums.of(table.name)
            for rows in store_copy.read_rows(conn, table, dst_sums):
                checked += len(rows)
                yield CopyProgress("checking", table.name, checked, total)
                if cancel.cancelled:
                    raise _Cancelled
        bad = [t for t in src_sums.tables if (src_sums.tables[t].rows,
               src_sums.tables[t].digest) != (dst_sums.tables[t].rows,
                                              dst_sums.tables[t].digest)]
        if bad:
            t = bad[0]
            raise CopyError(
                f"the copy does not match its source in {', '.join(bad)} ({t}: "
                f"{src_sums.tables[t].rows} rows, digest {src_sums.tables[t].digest} in "
                f"the source; {dst_sums.tables[t].rows} rows, digest "
                f"{dst_sums.tables[t].digest} in the copy): nothing was written")
    return (src_sums, dst_sums), head


def _verify_chains(source: Gallery, dst: Gallery, head: tuple[int, str] | None,
                   cancel: CancelToken) -> Generator[CopyProgress, None, int]:
    """Step 4: the audit verification of both sides; returns the copy's event count."""
    events = 0
    for side, gallery in (("copy", dst), ("source", source)):
        verification = None
        for step in audit.verify_steps(gallery, use_witness=False, cancel=cancel):
            if step.step == "cancelled":
                raise _Cancelled
            verification = step.result
            yield CopyProgress("verifying", side, step.done, step.total)
        assert verification is not None
        if not verification.ok:
            more = f" (and {len(verification.problems) - 1} more)" \
                if len(verification.problems) > 1 else ""
            raise CopyError(f"the {side}'s audit log fails verification: "
                            f"{verification.problems[0]}{more}")
        if side == "copy":
            events = verification.events
            found = None if verification.head_seq is None else \
                (verification.head_seq, verification.head_hash)
            if found != head:
                raise CopyError(f"the copy's audit log ends at {found}, the source's "
                                f"snapshot at {head}")
        elif head is not None:
            row = log.row_at(source, head[0])
            if row is None or row.hash != head[1]:
                raise CopyError(f"the source's audit event {head[0]} is no longer the one "
                                "copied")
    return events
