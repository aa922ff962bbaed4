"""Files readable by their owner only: galleries, their WAL/SHM and encoding cache, audit
exports, lead sheets, reports and CSVs hold password hashes, probe images and booking
photos, so FaceDesk creates them 0600 (0700 for the folders it makes), whatever the
process's umask, and warns once about an existing gallery that others can read.

`warn` is how a warning reaches the person: the CLI sets it to print on stderr, the GUI
to its status line; by default it goes to the `facedesk` logger.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
#: sidecar files SQLite keeps next to a gallery in WAL mode
SIDECARS = ("-wal", "-shm", "-journal")

_warned: set[str] = set()


def _default_warn(message: str) -> None:
    logging.getLogger("facedesk").warning(message)


warn: Callable[[str], None] = _default_warn


def set_warn(fn: Callable[[str], None]) -> None:
    global warn
    warn = fn


@contextlib.contextmanager
def owner_only() -> Iterator[None]:
    """Files and folders created meanwhile (by this process, by any library) are readable
    by their owner only (umask 077). The umask is process-wide: keep the block short."""
    if os.name != "posix":
        yield
        return
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def create_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (its folder 0700 when made
    here)."""
    make_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def make_dirs(folder: Path) -> None:
    with owner_only():
        folder.mkdir(parents=True, exist_ok=True)


def restrict(path: Path) -> None:
    """chmod 0600 (best effort: a file of another owner, a file system without modes)."""
    if os.name == "posix":
        with contextlib.suppress(OSError):
            os.chmod(path, FILE_MODE)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `path` (created or truncated) readable by its owner only."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    restrict(path)  # an existing file keeps its mode through O_CREAT


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _gid(group: str | None) -> int | None:
    if group is None or os.name != "posix":
        return None
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def exposed(path: Path, group: str | None = None) -> bool:
    """Can users other than the owner read or write `path`? Group bits do not count when
    the file belongs to `group`, the group an administrator shares the gallery with."""
    if os.name != "posix":
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    shared = _gid(group)
    mask = stat.S_IRWXO if shared is not None and st.st_gid == shared else \
        stat.S_IRWXG | stat.S_IRWXO
    return bool(st.st_mode & mask)


def gallery_files(path: Path) -> list[Path]:
    """The gallery file and the sidecars SQLite keeps next to it (those that exist)."""
    return [p for p in (path, *(path.with_name(path.name + s) for s in SIDECARS))
            if p.exists()]


def share(path: Path, group: str | None) -> None:
    """Make the gallery and its sidecars readable and writable by their owner and by
    `group` (mode 0660, that group), or by their owner only (None: 0600). Best effort:
    only the owner (or root) may do it; an error here leaves the modes as they were."""
    if os.name != "posix":
        return
    gid = _gid(group)
    for p in gallery_files(path):
        with contextlib.suppress(OSError):
            if gid is not None:
                os.chown(p, -1, gid)
                os.chmod(p, 0o660)
            else:
                os.chmod(p, FILE_MODE)


def check_gallery(path: Path, group: str | None = None) -> None:
    """Warn (once per path and process) when an existing gallery or its sidecars can be
    read by others (besides the members of `group`, when an administrator named one)."""
    found = [p for p in gallery_files(path) if exposed(p, group)]
    key = str(path.resolve())
    if not found or key in _warned:
        return
    _warned.add(key)
    mode = stat.S_IMODE(os.stat(found[0]).st_mode)
    warn(f"warning: {path} can be read by other users of this computer (mode {mode:o}); "
         f"make it private: chmod 600 {path}*")
