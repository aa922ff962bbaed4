"""The external witness of the audit log's head.

A hash chain inside the gallery file proves nothing to someone who can rewrite the whole
file: they can cut the log's tail, or edit an event and recompute every hash after it.
So every committed change that moves the head (seq, hash) also appends that head, with
the time, to places outside the gallery:

- an append-only file per gallery, ``<user data dir>/FaceDesk/witness/<gallery id>.log``
  (platformdirs' user_data_dir; 0600, in a 0700 folder), one JSON line per head;
- the system log where there is one: syslog (journald on most Linux systems) on POSIX,
  the Windows event log (source "FaceDesk") on Windows. Best effort: a system log that
  cannot be written never fails the action.

`audit verify` reads the witness file by itself: an event the witness saw that is no
longer in the log (a truncated tail, or an older copy put back), or one whose hash differs
(the chain recomputed after an edit), is a failure.

The folder can be moved with the environment variable FACEDESK_WITNESS_DIR (tests use it;
an agency can point it at a folder that ordinary users cannot rewrite, e.g. an append-only
share). Whoever starts FaceDesk chooses its environment, so this variable, like the file
itself, is under the control of the OS user running FaceDesk: the witness protects against
changes made to the gallery *afterwards* by someone who did not also rewrite the witness,
not against that user. The system log is the copy an ordinary user cannot rewrite.
FACEDESK_WITNESS_SYSLOG=off turns the system-log copy off (the test suite does).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from facedesk.store import Gallery

ENV_DIR = "FACEDESK_WITNESS_DIR"
ENV_SYSLOG = "FACEDESK_WITNESS_SYSLOG"

#: the head each open Gallery object last witnessed (no duplicate lines per change)
_last: weakref.WeakKeyDictionary[Gallery, int] = weakref.WeakKeyDictionary()


def witness_dir() -> Path:
    configured = os.environ.get(ENV_DIR, "").strip()
    if configured:
        return Path(configured)
    return Path(platformdirs.user_data_dir("FaceDesk", appauthor=False)) / "witness"


def witness_path(gallery_id: str) -> Path:
    """The witness file of a gallery id (an id that is not plain hex, e.g. edited into
    the file, is hashed: it never names a path)."""
    safe = gallery_id if re.fullmatch(r"[0-9a-f]{8,64}", gallery_id) else \
        "x" + hashlib.sha256(gallery_id.encode()).hexdigest()
    return witness_dir() / f"{safe}.log"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _append_line(gallery_id: str, doc: dict[str, Any]) -> None:
    path = witness_path(gallery_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.name == "posix":
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
        os.write(fd, line)  # one write of a short line: appended whole (O_APPEND)
    finally:
        os.close(fd)


def witness(gallery: Gallery, seq: int, digest: str, at: str) -> None:
    """Append the head to the witness file and the system log (if it moved since this
    Gallery object last witnessed it). Never raises."""
    if _last.get(gallery) == seq:
        return
    _last[gallery] = seq
    gid = gallery.gallery_id
    with contextlib.suppress(OSError):
        _append_line(gid, {"seq": seq, "hash": digest, "at": at, "witnessed_at": _now(),
                           "gallery": gallery.location})
    _system_log(f"FaceDesk audit head: gallery {gid} event {seq} hash {digest} at {at} "
                f"({gallery.location})")


def witness_restore(gallery: Gallery, seq: int | None, digest: str | None,
                    source: str) -> None:
    """Record that the gallery was put back to an earlier state (a restore): heads the
    witness saw beyond `seq` are no longer expected in the log."""
    gid = gallery.gallery_id
    with contextlib.suppress(OSError):
        _append_line(gid, {"restored_to": {"seq": seq or 0, "hash": digest},
                           "from": source, "witnessed_at": _now(),
                           "gallery": gallery.location})
    _system_log(f"FaceDesk audit head: gallery {gid} restored to event {seq or 0} hash "
                f"{digest} from {source} ({gallery.location})")
    _last.pop(gallery, None)


def _system_log(message: str) -> None:
    if os.environ.get(ENV_SYSLOG, "").strip().lower() in ("off", "0", "no", "false"):
        return
    with contextlib.suppress(Exception):
        if sys.platform == "win32":
            _windows_event_log(message)
        else:
            import syslog

            syslog.openlog("facedesk", syslog.LOG_PID, syslog.LOG_USER)
            syslog.syslog(syslog.LOG_INFO, message)


def _windows_event_log(message: str) -> None:  # pragma: no cover - Windows only
    import ctypes

    advapi = ctypes.windll.advapi32  # type: ignore[attr-defined]
    handle = advapi.RegisterEventSourceW(None, "FaceDesk")
    if not handle:
        return
    try:
        strings = (ctypes.c_wchar_p * 1)(message)
        advapi.ReportEventW(handle, 4, 0, 1, None, 1, 0, strings, None)  # information
    finally:
        advapi.DeregisterEventSource(handle)


# --- checking a log against its witness -----------------------------------------------------


@dataclass
class WitnessCheck:
    path: Path
    #: (first bad seq or None, message)
    failures: list[tuple[int | None, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    witnessed: int = 0


def check(gallery_id: str, hashes: dict[int, str], head_seq: int | None,
          gallery_path: Path | str | None = None) -> WitnessCheck:
    """Compare a log's hashes (seq -> hash, as verified) with its witness file. A head the
    witness saw in another file of the same gallery id (a copy) is named with that file."""
    path = witness_path(gallery_id)
    result = WitnessCheck(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if hashes:
            result.notes.append(f"no witness of this gallery's head in {path.parent} (a "
                                "gallery made or used by another OS user or on another "
                                "machine; or the witness was deleted): a truncated or "
                                "recomputed log is caught only with --head")
        return result
    except OSError as exc:
        result.failures.append((None, f"the witness {path} cannot be read ({exc})"))
        return result
    expected: dict[int, tuple[str, str, str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            if "restored_to" in doc:
                to = int(doc["restored_to"]["seq"])
                expected = {s: v for s, v in expected.items() if s <= to}
                continue
            expected[int(doc["seq"])] = (str(doc["hash"]), str(doc.get("at", "")),
                                         str(doc.get("gallery", "")))
        except (ValueError, TypeError, KeyError):
            result.failures.append((None, f"the witness {path} has an unreadable line {n} "
                                          "(the witness file was edited)"))
    result.witnessed = len(expected)
    end = head_seq or 0
    here = str(gallery_path) if gallery_path is not None else None

    def where(seq: int) -> str:
        seen_in = expected[seq][2]
        return f" (in {seen_in}: a copy of this gallery?)" if here and seen_in and \
            seen_in != here else ""

    beyond = sorted(s for s in expected if s not in hashes and s > end)
    if beyond:
        last = beyond[-1]
        result.failures.append((end + 1, (
            f"the witness ({path}) saw event {last} (hash {expected[last][0][:16]}…, "
            f"{expected[last][1]}){where(last)} but the log ends at event {end}: its last "
            f"{last - end} event(s) were removed (the log was truncated), or this is an "
            "older copy of the gallery")))
    changed = sorted(s for s, (h, _, _) in expected.items() if s in hashes and hashes[s] != h)
    if changed:
        first = changed[0]
        more = f" (and {len(changed) - 1} later witnessed event(s))" if len(changed) > 1 \
            else ""
        result.failures.append((first, (
            f"event {first} is not the event the witness ({path}) saw at "
            f"{expected[first][1]}{where(first)}: its hash was {expected[first][0][:16]}…, it is "
            f"{hashes[first][:16]}… now{more}: the log was rewritten and its hashes "
            "recomputed")))
    lost = sorted(s for s in expected if s not in hashes and s <= end)
    if lost:
        result.failures.append((lost[0], f"the witness saw event {lost[0]}, which is not in "
                                         "the log (deleted)"))
    if expected and end > max(expected):
        result.notes.append(f"events {max(expected) + 1} to {end} are not in this witness "
                            f"({path}): written by another OS user or with another witness "
                            "folder, or appended outside FaceDesk")
    return result
