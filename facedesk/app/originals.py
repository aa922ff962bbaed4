"""Re-verify a gallery's originals: every photo is referenced by path and SHA-256, and the
file at that path must still be there with the same bytes.

`verify_originals` is a generator of `OriginalsProgress` events and checks a `CancelToken`,
like the import. It only reads: nothing in the gallery or beside the photos is changed.
Each photo ends up as one of

- ok: the file is where it was imported from, with the same SHA-256;
- missing: no file at the recorded path (deleted, or moved somewhere not searched);
- moved: no file at the recorded path, but a file with the same bytes was found in one
  of the folders given to look in (`found_at`);
- changed: a file is there, but its bytes differ (edited, re-encoded, replaced);
- unreadable: a file is there but cannot be read (permissions, a folder, an I/O error).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from facedesk.domain.progress import CancelToken, RateMeter
from facedesk.store import Gallery

STATUSES = ("ok", "missing", "moved", "changed", "unreadable")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class OriginalProblem:
    photo_id: int
    person_id: str
    path: str
    status: str  # missing | moved | changed | unreadable
    detail: str
    found_at: str | None = None  # moved: where a file with the same bytes is now

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"photo_id": self.photo_id, "person_id": self.person_id,
                             "path": self.path, "status": self.status, "detail": self.detail}
        if self.found_at is not None:
            d["found_at"] = self.found_at
        return d


@dataclass(frozen=True)
class OriginalsProgress:
    phase: str  # "verifying" | "searching" (looking for moved files) | "finished"
    done: int
    total: int
    counts: dict[str, int]  # status -> photos so far
    rate: float
    eta_s: float | None
    elapsed_s: float
    current: str = ""
    status: str = "running"  # finished: completed | cancelled
    problems: tuple[OriginalProblem, ...] = field(default=())  # finished: all of them

    @property
    def ok(self) -> bool:
        """Every original verified and found as it was imported."""
        return self.status == "completed" and self.counts["ok"] == self.total

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "photos": self.total, "verified": self.done,
                **self.counts, "elapsed_s": round(self.elapsed_s, 2),
                "problems": [p.as_dict() for p in self.problems]}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_original(path: Path, sha256: str, size_bytes: int | None) -> tuple[str, str]:
    """(status, detail) of one original: ok, missing, changed or unreadable."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing", "no file at this path (moved or deleted)"
    except OSError as exc:
        return "unreadable", f"cannot be read: {exc.strerror or exc}"
    if not path.is_file():
        return "unreadable", "not a file"
    if size_bytes is not None and st.st_size != size_bytes:
        return "changed", (f"the file has changed since it was imported ({st.st_size:,} bytes, "
                           f"was {size_bytes:,})")
    try:
        actual = file_sha256(path)
    except OSError as exc:
        return "unreadable", f"cannot be read: {exc.strerror or exc}"
    if actual != sha256:
        return "changed", "the file has changed since it was imported (its SHA-256 differs)"
    return "ok", ""


def verify_originals(gallery: Gallery, *, look_in: Sequence[Path] = (),
                     cancel: CancelToken | None = None) -> Iterator[OriginalsProgress]:
    """Check every photo's original; with `look_in`, search those folders for the files
    that are no longer at their recorded path. The last event has phase 'finished'."""
    cancel = cancel or CancelToken()
    started = time.monotonic()
    photos = gallery.photo_files()
    counts = dict.fromkeys(STATUSES, 0)
    problems: list[OriginalProblem] = []
    meter = RateMeter(total=len(photos))
    done = 0
    status = "completed"

    def event(phase: str, current: str = "") -> OriginalsProgress:
        return OriginalsProgress(phase=phase, done=done, total=len(photos), counts=dict(counts),
                              rate=meter.rate(done), eta_s=meter.eta(done),
                              elapsed_s=time.monotonic() - started, current=current)

    for photo in photos:
        if cancel.cancelled:
            status = "cancelled"
            break
        state, detail = check_original(Path(photo.path), photo.sha256,
                                       photo.size_bytes)
        counts[state] += 1
        if state != "ok":
            problems.append(OriginalProblem(photo.photo_id, photo.person_id,
                                            photo.path, state, detail))
        done += 1
        yield event("verifying", photo.path)

    missing = [p for p in problems if p.status == "missing"]
    if look_in and missing and status == "completed":
        sizes = {photo.size_bytes for photo in photos}
        wanted = {photo.sha256 for photo in photos
                  if photo.photo_id in {p.photo_id for p in missing}}
        found: dict[str, str] = {}
        looked = 0
        for folder in look_in:
            for path in _files_under(folder):
                if cancel.cancelled:
                    status = "cancelled"
                    break
                looked += 1
                if looked % 256 == 0:
                    yield event("searching", str(path))
                try:
                    if path.stat().st_size not in sizes:
                        continue  # cannot be one of ours: no need to read it
                    sha = file_sha256(path)
                except OSError:
                    continue
                if sha in wanted and sha not in found:
                    found[sha] = str(path)
                    yield event("searching", str(path))
            if status == "cancelled" or len(found) == len(wanted):
                break
        by_id = {photo.photo_id: photo for photo in photos}
        for i, p in enumerate(problems):
            where = found.get(by_id[p.photo_id].sha256) if p.status == "missing" else None
            if where is not None:
                problems[i] = OriginalProblem(p.photo_id, p.person_id, p.path, "moved",
                                              "not at the recorded path; the same file is "
                                              "elsewhere", found_at=where)
                counts["missing"] -= 1
                counts["moved"] += 1
    yield replace(event("finished"), status=status, problems=tuple(problems))


def _files_under(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name
