"""The import lock: one import into a gallery at a time.

An import holds an operating-system lock on a small file beside the gallery
(`GALLERY-import-lock`, next to SQLite's own `-wal` and `-shm` files) for as long as its
run is 'running'. The operating system drops the lock when the process ends, however it
ends (Ctrl-C, a crash, SIGKILL, a power cut), so a killed import never blocks the next
one, and a second import started while the first is alive is refused at once instead of
racing it. The file holds the holder's process id, for the refusal message; it is removed
when the lock is released normally.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from facedesk.errors import GalleryError


def lock_path(gallery_path: Path) -> Path:
    return gallery_path.with_name(gallery_path.name + "-import-lock")


class ImportLock:
    """A non-blocking exclusive lock on `lock_path(gallery)`; `acquire()` says whether it
    got it. Two ImportLock objects exclude each other even inside one process."""

    def __init__(self, gallery_path: Path) -> None:
        self.path = lock_path(gallery_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise GalleryError(
                    f"{self.path}: cannot create the gallery's import lock file "
                    f"({exc.strerror or exc}); the gallery's folder must be writable"
                ) from None
            if not _try_lock(fd):
                os.close(fd)
                return False
            # the holder before us may have removed the file between our open and our
            # lock: then we locked a file nobody else will see; start again
            try:
                same = _same_file(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                _unlock(fd)
                os.close(fd)
                continue
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform != "win32":  # an open file cannot be removed on Windows
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        _unlock(fd)
        os.close(fd)

    def holder_pid(self) -> int | None:
        """The process id written by the current holder (None if unknown)."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
