"""The audit log's hash chain, as pure functions: no database, no files.

Each event's hash is the SHA-256 of the previous event's hash and of the event's own
fields in a canonical JSON form, so changing, deleting or reordering any event breaks
every hash after it; the first event's "previous hash" is derived from the gallery's id,
so a log cannot be moved to another gallery. `ChainCheck` checks a sequence of events
one at a time (from the database or from an export), so a caller can report progress
and stop between events. The store keeps the rows (facedesk.store.audit_log); the use
cases (append, verify, export) are facedesk.app.audit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: every kind of event, with the words the log viewer shows
KINDS: dict[str, str] = {
    "audit_started": "Audit log started",
    "sign_in": "Signed in",
    "sign_in_failed": "Sign-in refused",
    "user_added": "User added",
    "user_changed": "User changed",
    "setting_changed": "Setting changed",
    "import": "Gallery import",
    "case_opened": "Case opened",
    "case_closed": "Case closed",
    "search": "Search",
    "candidate_viewed": "Candidate viewed",
    "decision": "Decision",
    "lead_review": "Second review",
    "lead_evidence": "Independent evidence recorded",
    "export": "Export",
    "purge": "Retention purge",
    "import_batch": "Gallery content stored",
    "calibration_added": "Calibration stored",
    "integrity_baseline": "Record digests baselined",
    "backup": "Backup made",
    "restore": "Restored from a backup",
    "gallery_copy": "Gallery copied",
    "user_unlocked": "User unlocked",
    "lab": "Accuracy lab",
    "quiz_started": "Quiz started",
    "quiz_answer": "Quiz answer",
    "quiz_finished": "Quiz finished",
}

ALGORITHM = ("sha256(prev_hash + '\\n' + canonical_json({seq, at, user_id, kind, case_id, "
             "data})); canonical_json = JSON with sorted keys, no spaces, UTF-8; the first "
             "event's prev_hash is sha256('facedesk-audit:' + gallery_id)")


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def genesis_hash(gallery_id: str) -> str:
    return hashlib.sha256(f"facedesk-audit:{gallery_id}".encode()).hexdigest()


def event_hash(prev_hash: str, seq: int, at: str, user_id: str | None, kind: str,
               case_id: int | None, data: Any) -> str:
    body = canonical({"seq": seq, "at": at, "user_id": user_id, "kind": kind,
                      "case_id": case_id, "data": data})
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def parse_data(text: Any) -> Any:
    """An event's stored data (JSON text) decoded; text that cannot be read is kept as
    {"unreadable": text}, so its hash no longer matches and verification reports it."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return {"unreadable": str(text)}


@dataclass(frozen=True)
class Event:
    seq: int
    at: str
    user_id: str | None
    kind: str
    case_id: int | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "user_id": self.user_id, "kind": self.kind,
                "case_id": self.case_id, "data": self.data, "prev_hash": self.prev_hash,
                "hash": self.hash}

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, self.kind)


def link(prev_hash: str, seq: int, at: str, user_id: str | None, kind: str,
         case_id: int | None, data: dict[str, Any]) -> Event:
    """The next event of a chain whose last hash is `prev_hash` (data as it will be
    stored: canonical JSON decoded again, so what is hashed is exactly what is kept)."""
    data = json.loads(canonical(data))
    return Event(seq, at, user_id, kind, case_id, data, prev_hash,
                 event_hash(prev_hash, seq, at, user_id, kind, case_id, data))


@dataclass
class Verification:
    """The result of checking a log. `problems` lists every finding; `first_bad` is the
    sequence number of the first event that is broken or missing (None when it is the
    log as a whole, e.g. its triggers)."""

    events: int = 0
    head_seq: int | None = None
    head_hash: str | None = None
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None
    #: what the reader should know but is not a failure (e.g. no witness file here)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, seq: int | None, message: str) -> None:
        if seq is not None and (self.first_bad is None or seq < self.first_bad):
            self.first_bad = seq
        self.problems.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "first_bad_event": self.first_bad,
                "problems": self.problems, "notes": self.notes}

    def summary(self) -> str:
        notes = "".join(f"\n  note: {n}" for n in self.notes)
        if self.ok:
            return (f"audit log intact: {self.events} events, head event {self.head_seq} "
                    f"hash {self.head_hash}{notes}")
        where = "" if self.first_bad is None else f" (first broken or missing event: " \
                                                   f"{self.first_bad})"
        return (f"AUDIT LOG FAILED VERIFICATION{where}:\n  " + "\n  ".join(self.problems)
                + notes)


class ChainCheck:
    """Checks a chain one event at a time: `add` every event in order, then `finish`."""

    def __init__(self, gallery_id: str, verification: Verification | None = None) -> None:
        self.v = verification if verification is not None else Verification()
        self._prev_hash = genesis_hash(gallery_id)
        self._expected_seq = 1
        self._hashes: dict[str, int] = {}

    def add(self, ev: Event) -> None:
        v = self.v
        v.events += 1
        expected_seq = self._expected_seq
        if ev.seq != expected_seq:
            if ev.seq > expected_seq:
                missing = f"{expected_seq}" if ev.seq == expected_seq + 1 else \
                    f"{expected_seq} to {ev.seq - 1}"
                v.fail(expected_seq, f"event {missing} missing: the log jumps from event "
                                     f"{expected_seq - 1} to {ev.seq} (deleted)")
            else:
                v.fail(ev.seq, f"event {ev.seq} appears out of order after event "
                               f"{expected_seq - 1}")
        if ev.prev_hash != self._prev_hash:
            v.fail(ev.seq, f"event {ev.seq} ({ev.kind}, {ev.at}): its previous-event hash does "
                           "not match the event before it (events removed, reordered or "
                           "rewritten before it)")
        digest = event_hash(ev.prev_hash, ev.seq, ev.at, ev.user_id, ev.kind, ev.case_id,
                            ev.data)
        if digest != ev.hash:
            v.fail(ev.seq, f"event {ev.seq} ({ev.kind}, {ev.at}): its content does not match "
                           "its hash (edited after it was written)")
        self._hashes[ev.hash] = ev.seq
        self._prev_hash = ev.hash
        self._expected_seq = ev.seq + 1
        v.head_seq, v.head_hash = ev.seq, ev.hash

    def finish(self, *, expect_head: str | None = None,
               expect_seq: int | None = None) -> Verification:
        """`expect_head` is a head hash recorded earlier (printed or exported): it must
        still be in the chain, and with `expect_seq` at that position; otherwise the log
        lost its tail (or was rewritten after that point)."""
        v = self.v
        if expect_head:
            at = self._hashes.get(expect_head)
            if at is None:
                seq_text = f"event {expect_seq}" if expect_seq else "the recorded head"
                first_missing = (v.head_seq or 0) + 1  # when the tail was cut off
                v.fail(min(expect_seq, first_missing) if expect_seq else first_missing,
                       f"{seq_text} with hash {expect_head[:16]}… is not in the log (it ends "
                       f"at event {v.head_seq or 0}): the log was truncated or rewritten "
                       "after that head was recorded")
            elif expect_seq is not None and at != expect_seq:
                v.fail(min(at, expect_seq), f"the recorded head hash is event {at} in the "
                                            f"log, not event {expect_seq}")
        return v


def verify_chain(rows: Iterable[Event], gallery_id: str, *, expect_head: str | None = None,
                 expect_seq: int | None = None) -> Verification:
    """Check a sequence of events (from the database or from an export) in one call."""
    check = ChainCheck(gallery_id)
    for ev in rows:
        check.add(ev)
    return check.finish(expect_head=expect_head, expect_seq=expect_seq)


#: the key of an event's data that carries the digests of the records it wrote
RECORDS_KEY = "records"


class RecordReplay:
    """What the events say the records are: (table, key) -> (version, digest or None,
    seq of the last event that recorded it); and seq -> hash for the witness. `add`
    every event in order."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], tuple[int, str | None, int]] = {}
        self.hashes: dict[int, str] = {}
        self.unreadable: list[int] = []

    def add(self, ev: Event) -> None:
        self.hashes[ev.seq] = ev.hash
        logged = ev.data.get(RECORDS_KEY) if isinstance(ev.data, dict) else None
        if logged is not None:
            try:
                for table, doc in logged.items():
                    version = int(doc["v"])
                    for key, dig in doc["rows"].items():
                        self.latest[(table, str(key))] = (version, dig, ev.seq)
            except (AttributeError, KeyError, TypeError, ValueError):
                self.unreadable.append(ev.seq)
