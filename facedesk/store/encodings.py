"""Face encodings: the gallery's matrix of every encoding (`EncodingMatrix`), read from
the gallery in one pass or from the encoding cache file (`EncodingCache`: next to a gallery
file; for a gallery on a server, in the user's cache folder, by gallery id), and kept
current by reading only the faces added since (faces are never changed or deleted)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import platformdirs
from numpy.typing import NDArray

from facedesk.domain import private
from facedesk.store.db import Connection, batches, now_iso

if TYPE_CHECKING:
    from facedesk.store.gallery import Gallery

ENCODING_BYTES = 128 * 4
#: galleries with at least this many faces keep an encoding cache file by default
ENCODING_CACHE_MIN_FACES = 20_000
ENCODING_CACHE_SUFFIX = ".encodings"
_READ_BATCH = 4096
#: rows of a cache compared with the gallery before it is trusted (the newest faces,
#: and faces spread over the whole gallery)
_SPOT_CHECKS = 16


@dataclass(frozen=True)
class EncodingMatrix:
    """Every face encoding, grouped by person (rows of one person are contiguous)."""

    face_ids: NDArray[np.int64]
    person_pks: NDArray[np.int64]
    matrix: NDArray[np.float32]  # (n, 128), C-contiguous
    engine_ids: frozenset[str]
    version: int


def load(gallery: Gallery, *, cache: bool | None = None,
         previous: EncodingMatrix | None = None) -> EncodingMatrix:
    """All encodings as one float32 matrix, rows grouped by person.

    `previous`: this gallery's matrix loaded before (e.g. by a Searcher): only the faces
    added since are read. Else from the gallery's encoding cache file (see
    `EncodingCache`), topped up with the faces added since it was written, or from the
    gallery in one pass (and then the cache is written, best effort). The cache is used
    by default from `ENCODING_CACHE_MIN_FACES` faces: below that, the BLOBs decode in
    milliseconds. `cache=True` / `False` forces it either way."""
    # one read transaction, so the version matches the rows
    with gallery.read() as conn:
        version = gallery.version
        gallery_id = gallery.gallery_id
        n = int(conn.execute("SELECT count(*) FROM faces").fetchone()[0])
        if previous is not None and previous.version <= version:
            topped = _top_up(conn, previous, version, n)
            if topped is not None:
                return topped
        use_cache = n >= ENCODING_CACHE_MIN_FACES if cache is None else cache
        store = EncodingCache(cache_file(gallery)) if use_cache and n else None
        enc = None
        if store is not None:
            cached = store.read(gallery_id, version, n, at_most=True)
            if cached is not None and _spot_check(conn, cached):
                enc = _top_up(conn, cached, version, n)
                if enc is cached:
                    return cached
        if enc is None:
            enc = read_encodings(conn, version, n)
    if store is not None:
        store.write(enc, gallery_id)
    return enc


def _top_up(conn: Connection, old: EncodingMatrix, version: int, n: int
            ) -> EncodingMatrix | None:
    """`old` with the faces added since (those with a greater id: writes are serialised,
    so ids grow in commit order), rows still grouped by person; `old` itself when nothing
    was added; None when the counts do not add up (not a gallery that only grew)."""
    have = len(old.face_ids)
    if have == n and old.version == version:
        return old
    if have > n:
        return None
    last = int(old.face_ids.max()) if have else 0
    new = read_encodings(conn, version, n - have, after_id=last)
    if len(new.face_ids) != n - have:
        return None
    order = np.argsort(np.concatenate([old.person_pks, new.person_pks]), kind="stable")
    return EncodingMatrix(np.concatenate([old.face_ids, new.face_ids])[order],
                          np.concatenate([old.person_pks, new.person_pks])[order],
                          np.concatenate([old.matrix, new.matrix])[order],
                          old.engine_ids | new.engine_ids, version)


def read_encodings(conn: Connection, version: int, n: int, *, after_id: int = 0
                   ) -> EncodingMatrix:
    """Every face's id, person and encoding (of the faces with an id above `after_id`),
    person by person, in one pass: the BLOBs of a batch of rows are joined and converted
    at once, not row by row."""
    face_ids = np.empty(n, dtype=np.int64)
    person_pks = np.empty(n, dtype=np.int64)
    matrix = np.empty((n, 128), dtype=np.float32)
    flat = matrix.reshape(-1)
    engines: set[str] = set()
    i = 0
    # the whole gallery: in the person index's order, no range to plan around
    where, args = ("WHERE id > ? ", (after_id,)) if after_id else ("", ())
    for rows in batches(conn, "SELECT id, person_pk, engine_id, encoding FROM faces "
                        f"{where}ORDER BY person_pk, id", args, _READ_BATCH):
        rows = rows[:n - i]
        if not rows:
            break
        ids, pks, eids, blobs = zip(*rows, strict=True)
        j = i + len(rows)
        face_ids[i:j] = ids
        person_pks[i:j] = pks
        engines.update(eids)
        data = b"".join(blobs)
        if len(data) != ENCODING_BYTES * len(rows):
            raise ValueError("a stored encoding is not 128 float32 values")
        flat[i * 128:j * 128] = np.frombuffer(data, dtype="<f4")
        i = j
    return EncodingMatrix(face_ids[:i], person_pks[:i], matrix[:i], frozenset(engines),
                          version)


# --- the encoding cache ---------------------------------------------------------------------

def encoding_cache_path(gallery_path: Path) -> Path:
    """The encoding cache next to a gallery: GALLERY.db -> GALLERY.db.encodings."""
    return gallery_path.with_name(gallery_path.name + ENCODING_CACHE_SUFFIX)


def cache_file(gallery: Gallery) -> Path:
    """A gallery's encoding cache: next to its file, or, for a gallery on a server, in the
    user's cache folder (private to the user), named by the gallery's id."""
    if not gallery.is_server:
        return encoding_cache_path(gallery.path)
    folder = Path(platformdirs.user_cache_dir("FaceDesk", appauthor=False)) / "encodings"
    private.make_dirs(folder)
    return folder / f"{gallery.gallery_id}{ENCODING_CACHE_SUFFIX}"


@dataclass(frozen=True)
class CacheHeader:
    """What an encoding cache file says it holds (its JSON header)."""

    gallery_id: str
    version: int
    faces: int
    engine_ids: frozenset[str]
    checksum: int  # of the payload, see `_checksum`
    offset: int  # where the payload starts

    @classmethod
    def of(cls, header: dict[str, object]) -> CacheHeader | None:
        """From the parsed JSON; None if a field is missing or of another type."""
        gallery_id, engines = header.get("gallery_id"), header.get("engine_ids")
        ints = [v for v in (header.get(k) for k in ("version", "faces", "checksum", "offset"))
                if isinstance(v, int)]
        if not isinstance(gallery_id, str) or len(ints) != 4 or \
                not isinstance(engines, list) or not all(isinstance(e, str) for e in engines):
            return None
        version, faces, checksum, offset = ints
        return cls(gallery_id, version, faces, frozenset(engines), checksum, offset)


class EncodingCache:
    """A copy of `load_encodings()`'s arrays in one file next to the gallery, so that a
    large gallery's matrix loads at disk speed instead of by decoding a million BLOBs.

    Never required and never trusted blindly: it is used only when its header names the
    gallery's id, version and face count, its payload checksum holds, and a spot check of
    rows against the gallery agrees; anything else (missing, stale, truncated, corrupt,
    another format) is ignored and the cache rebuilt from the gallery. Written to a
    temporary file in the same folder and renamed over the old one, so a reader sees the
    old cache or the new one, never half of one; a folder that cannot be written just
    means no cache.

    Layout: the line `FaceDesk encoding cache\n`, an 8-byte little-endian header length,
    the header (JSON), zero padding to a multiple of 4096 bytes, then face ids (int64),
    person pks (int64) and the matrix (float32, n x 128), all little-endian. The
    checksum is the wrapping sum of the payload read as uint64 words: cheap (about as
    fast as reading it), and enough to catch truncation, zeroed or garbled blocks.
    """

    MAGIC = b"FaceDesk encoding cache\n"
    FORMAT = 1
    ALIGN = 4096
    #: memory-map the payload (see `read`); Windows cannot rename over a mapped file
    MAP = os.name == "posix"

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, gallery_id: str, version: int, faces: int, *, at_most: bool = False
             ) -> EncodingMatrix | None:
        """The cached arrays if the file is current and intact, else None. `at_most`:
        also a cache of an earlier version (fewer faces; its arrays then carry its own
        version), to be topped up with the faces added since.

        Where the platform allows replacing a mapped file (POSIX), the payload is memory-
        mapped copy-on-write rather than read: the arrays are then the page cache's pages
        (no second copy in memory, no page-faulting half a gigabyte of fresh memory:
        about 10x faster at a million faces; they count as the process's resident memory
        once touched, but as clean file pages the system can reclaim them at will), and
        writing to them changes only this process's copy. A cache is only ever replaced
        by renaming, never rewritten in place, so a mapping stays valid. Elsewhere
        (Windows cannot rename over a mapped file) the payload is read into memory."""
        try:
            with open(self.path, "rb") as f:
                header = self._header(f)
                if header is None or header.gallery_id != gallery_id:
                    return None
                if (header.version, header.faces) != (version, faces) and not (
                        at_most and header.version <= version and header.faces <= faces):
                    return None
                faces = header.faces
                size = faces * (2 * 8 + 128 * 4)
                offset = header.offset
                if offset < self.ALIGN or os.fstat(f.fileno()).st_size != offset + size:
                    return None
                payload: NDArray[np.uint8] | None = None
                if self.MAP:
                    with contextlib.suppress(OSError, ValueError):  # e.g. no mmap there
                        payload = np.asarray(np.memmap(f, dtype=np.uint8, mode="c",
                                                       offset=offset, shape=(size,)))
                if payload is None:
                    payload = np.empty(size, dtype=np.uint8)
                    f.seek(offset)
                    if f.readinto(payload.data) != size:
                        return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _checksum(payload) != header.checksum:
            return None
        face_ids = payload[:faces * 8].view("<i8")
        person_pks = payload[faces * 8:faces * 16].view("<i8")
        matrix = payload[faces * 16:].view("<f4").reshape(faces, 128)
        return EncodingMatrix(face_ids.astype(np.int64, copy=False),
                              person_pks.astype(np.int64, copy=False),
                              matrix.astype(np.float32, copy=False), header.engine_ids,
                              header.version)

    def _header(self, f: IO[bytes]) -> CacheHeader | None:
        """The file's header, or None if it is not one of this format (raises ValueError
        for a header that is not JSON)."""
        if f.read(len(self.MAGIC)) != self.MAGIC:
            return None
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < self.ALIGN:
            return None
        header = json.loads(f.read(size).decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != self.FORMAT:
            return None
        return CacheHeader.of(header)

    def write(self, enc: EncodingMatrix, gallery_id: str) -> bool:
        """Write the cache (atomically); False if the folder does not allow it."""
        n = len(enc.face_ids)
        parts = [np.ascontiguousarray(enc.face_ids, dtype="<i8"),
                 np.ascontiguousarray(enc.person_pks, dtype="<i8"),
                 np.ascontiguousarray(enc.matrix, dtype="<f4")]
        checksum = 0
        for part in parts:
            checksum = (checksum + _checksum(part.reshape(-1).view(np.uint8))) % 2 ** 64
        header = json.dumps({
            "format": self.FORMAT, "gallery_id": gallery_id, "version": enc.version,
            "faces": n, "engine_ids": sorted(enc.engine_ids), "checksum": checksum,
            "offset": self.ALIGN, "written_at": now_iso(),
        }).encode("utf-8")
        head = self.MAGIC + len(header).to_bytes(8, "little") + header
        if len(head) > self.ALIGN:
            return False
        self._remove_leftovers()
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                       suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(head.ljust(self.ALIGN, b"\0"))
                for part in parts:
                    f.write(part.data.cast("B"))
            os.replace(tmp, self.path)
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return False
        return True

    def _remove_leftovers(self) -> None:
        """Temporary files of writes that were killed half-way (an hour old: not one
        another process is writing now)."""
        cutoff = time.time() - 3600
        prefix = f".{self.path.name}."
        with contextlib.suppress(OSError):
            for leftover in self.path.parent.iterdir():
                if not (leftover.name.startswith(prefix) and leftover.name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    if leftover.stat().st_mtime < cutoff:
                        leftover.unlink()


def _checksum(data: NDArray[np.uint8]) -> int:
    """Wrapping uint64 sum of the bytes, read as little-endian words (zero-padded)."""
    whole = len(data) // 8 * 8
    total = int(data[:whole].view("<u8").sum(dtype=np.uint64)) if whole else 0
    if whole < len(data):
        total += int.from_bytes(bytes(data[whole:]), "little")
    return total % 2 ** 64


def _spot_check(conn: Connection, enc: EncodingMatrix) -> bool:
    """Do some cached rows (the newest faces, and faces spread over the gallery) hold
    the gallery's id, person and encoding? Catches a cache of a diverged copy of the
    gallery (same id, version and count, other faces)."""
    n = len(enc.face_ids)
    newest = np.argsort(enc.face_ids)[-_SPOT_CHECKS:]
    spread = np.linspace(0, n - 1, _SPOT_CHECKS).round().astype(np.intp)
    rows = np.unique(np.concatenate([newest, spread]))
    by_id = {int(enc.face_ids[r]): int(r) for r in rows}
    marks = ",".join("?" * len(by_id))
    found = 0
    for fid, ppk, blob in conn.execute(
            f"SELECT id, person_pk, encoding FROM faces WHERE id IN ({marks})", list(by_id)):
        r = by_id[int(fid)]
        if int(enc.person_pks[r]) != int(ppk) or \
                bytes(blob) != enc.matrix[r].astype("<f4").tobytes():
            return False
        found += 1
    return found == len(by_id)
