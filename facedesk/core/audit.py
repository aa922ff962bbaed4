"""The audit log: an append-only, hash-chained list of events in the gallery.

Every event (import, search, candidate viewed, decision, second review, export, setting
and user changes, sign-in, purge) is one row of the `audit` table. Its hash is the
SHA-256 of the previous event's hash and of the event's own fields in a canonical JSON
form, so changing, deleting or reordering any event breaks every hash after it; the first
event's "previous hash" is derived from the gallery's id, so a log cannot be moved to
another gallery. Triggers refuse UPDATE and DELETE on the table; `verify` still catches
what raw SQL does with the triggers dropped, and a truncated tail when given a head hash
that was printed or exported earlier (the tail's last events leave no trace otherwise).

The records the events describe (searches, decisions, second reviews) are also kept in
their own tables for the application's use; `verify` checks them against their events.

Events are appended inside the caller's write transaction (`Gallery.write()`), with the
change they describe: both are stored or neither.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facedesk.store import Gallery
from facedesk.store.schema import MIGRATIONS

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
    "export": "Export",
    "purge": "Retention purge",
    "lab": "Accuracy lab used",  # data {"view": "trainer" | ..., "action": ..., ...}
}

ALGORITHM = ("sha256(prev_hash + '\\n' + canonical_json({seq, at, user_id, kind, case_id, "
             "data})); canonical_json = JSON with sorted keys, no spaces, UTF-8; the first "
             "event's prev_hash is sha256('facedesk-audit:' + gallery_id)")

#: the fields of a stored record that its audit event repeats (verify compares them)
RECORD_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "decisions": ("decision", ("id", "search_id", "rank", "person_id", "face_id", "decision",
                               "rationale", "reviewer", "second_review", "distance",
                               "case_id", "first_impression", "blind_review")),
    "lead_reviews": ("lead_review", ("id", "decision_id", "reviewer", "verdict", "rationale",
                                     "blind")),
    "searches": ("search", ("id", "probe_sha256", "engine_id", "gallery_version", "threshold",
                            "top_k")),
}


#: the triggers of schema 5 that keep the table append-only
TRIGGERS = ("audit_no_update", "audit_no_delete", "audit_append_only")


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def genesis_hash(gallery_id: str) -> str:
    return hashlib.sha256(f"facedesk-audit:{gallery_id}".encode()).hexdigest()


def event_hash(prev_hash: str, seq: int, at: str, user_id: str | None, kind: str,
               case_id: int | None, data: Any) -> str:
    body = canonical({"seq": seq, "at": at, "user_id": user_id, "kind": kind,
                      "case_id": case_id, "data": data})
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def append(conn: sqlite3.Connection, gallery_id: str, kind: str, data: dict[str, Any], *,
           user_id: str | None = None, case_id: int | None = None) -> Event:
    """Append one event. Call inside a write transaction (`with gallery.write() as conn`),
    in the same transaction as the change the event records."""
    if not conn.in_transaction:
        raise RuntimeError("audit.append needs an open write transaction")
    if kind not in KINDS:
        raise ValueError(f"unknown audit event kind {kind!r}")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (1, genesis_hash(gallery_id)) if last is None else (last[0] + 1, last[1])
    at = now()
    data = json.loads(canonical(data))  # what is hashed is exactly what is stored
    digest = event_hash(prev, seq, at, user_id, kind, case_id, data)
    conn.execute(
        "INSERT INTO audit(seq, at, user_id, kind, case_id, data, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, user_id, kind, case_id, canonical(data), prev, digest))
    return Event(seq, at, user_id, kind, case_id, data, prev, digest)


def record(gallery: Gallery, kind: str, data: dict[str, Any], *, user_id: str | None = None,
           case_id: int | None = None) -> Event:
    """Append one event in a transaction of its own (for events that change nothing else,
    e.g. a candidate viewed)."""
    with gallery.write() as conn:
        return append(conn, gallery.gallery_id, kind, data, user_id=user_id, case_id=case_id)


def _row_event(row: Sequence[Any]) -> Event:
    seq, at, user_id, kind, case_id, data, prev, digest = row
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        parsed = {"unreadable": str(data)}
    return Event(seq, at, user_id, kind, case_id, parsed, prev, digest)


def events(gallery: Gallery, *, case_id: int | None = None,
           kinds: Iterable[str] | None = None, limit: int | None = None) -> list[Event]:
    """Events in order (oldest first); filtered by case and kinds."""
    where: list[str] = []
    args: list[Any] = []
    if case_id is not None:
        where.append("case_id = ?")
        args.append(case_id)
    if kinds is not None:
        ks = list(kinds)
        where.append(f"kind IN ({', '.join('?' * len(ks))})")
        args.extend(ks)
    sql = "SELECT seq, at, user_id, kind, case_id, data, prev_hash, hash FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    if limit is not None:
        sql = f"SELECT * FROM ({sql.replace(' ORDER BY seq', ' ORDER BY seq DESC')} " \
              f"LIMIT {int(limit)}) ORDER BY seq"
    return [_row_event(r) for r in gallery.conn.execute(sql, args)]


def event(gallery: Gallery, seq: int) -> Event | None:
    row = gallery.conn.execute(
        "SELECT seq, at, user_id, kind, case_id, data, prev_hash, hash FROM audit "
        "WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else _row_event(row)


def head(gallery: Gallery) -> Event | None:
    row = gallery.conn.execute(
        "SELECT seq, at, user_id, kind, case_id, data, prev_hash, hash FROM audit "
        "ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else _row_event(row)


# --- verification -------------------------------------------------------------------------


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
                "problems": self.problems}

    def summary(self) -> str:
        if self.ok:
            return (f"audit log intact: {self.events} events, head event {self.head_seq} "
                    f"hash {self.head_hash}")
        where = "" if self.first_bad is None else f" (first broken or missing event: " \
                                                   f"{self.first_bad})"
        return f"AUDIT LOG FAILED VERIFICATION{where}:\n  " + "\n  ".join(self.problems)


def verify_chain(rows: Iterator[Event], gallery_id: str, *, expect_head: str | None = None,
                 expect_seq: int | None = None) -> Verification:
    """Check a sequence of events (from the database or from an export). `expect_head` is
    a head hash recorded earlier (printed or exported): it must still be in the chain,
    and with `expect_seq` at that position; otherwise the log lost its tail (or was
    rewritten after that point)."""
    v = Verification()
    prev_hash = genesis_hash(gallery_id)
    expected_seq = 1
    hashes: dict[str, int] = {}
    for ev in rows:
        v.events += 1
        if ev.seq != expected_seq:
            if ev.seq > expected_seq:
                missing = f"{expected_seq}" if ev.seq == expected_seq + 1 else \
                    f"{expected_seq} to {ev.seq - 1}"
                v.fail(expected_seq, f"event {missing} missing: the log jumps from event "
                                     f"{expected_seq - 1} to {ev.seq} (deleted)")
            else:
                v.fail(ev.seq, f"event {ev.seq} appears out of order after event "
                               f"{expected_seq - 1}")
        if ev.prev_hash != prev_hash:
            v.fail(ev.seq, f"event {ev.seq} ({ev.kind}, {ev.at}): its previous-event hash does "
                           "not match the event before it (events removed, reordered or "
                           "rewritten before it)")
        digest = event_hash(ev.prev_hash, ev.seq, ev.at, ev.user_id, ev.kind, ev.case_id,
                            ev.data)
        if digest != ev.hash:
            v.fail(ev.seq, f"event {ev.seq} ({ev.kind}, {ev.at}): its content does not match "
                           "its hash (edited after it was written)")
        hashes[ev.hash] = ev.seq
        prev_hash = ev.hash
        expected_seq = ev.seq + 1
        v.head_seq, v.head_hash = ev.seq, ev.hash
    if expect_head:
        at = hashes.get(expect_head)
        if at is None:
            seq_text = f"event {expect_seq}" if expect_seq else "the recorded head"
            first_missing = (v.head_seq or 0) + 1  # when the tail was cut off
            v.fail(min(expect_seq, first_missing) if expect_seq else first_missing,
                   f"{seq_text} with hash {expect_head[:16]}… is not in the log (it ends at "
                   f"event {v.head_seq or 0}): the log was truncated or rewritten after "
                   "that head was recorded")
        elif expect_seq is not None and at != expect_seq:
            v.fail(min(at, expect_seq), f"the recorded head hash is event {at} in the log, "
                                        f"not event {expect_seq}")
    return v


def _db_events(gallery: Gallery) -> Iterator[Event]:
    cur = gallery.conn.execute(
        "SELECT seq, at, user_id, kind, case_id, data, prev_hash, hash FROM audit ORDER BY "
        "seq")
    for row in cur:
        yield _row_event(row)


def verify(gallery: Gallery, *, expect_head: str | None = None,
           expect_seq: int | None = None) -> Verification:
    """Check the whole chain, the append-only triggers, and the stored records against
    their events."""
    with gallery.read():
        v = verify_chain(_db_events(gallery), gallery.gallery_id, expect_head=expect_head,
                         expect_seq=expect_seq)
        _check_triggers(gallery, v)
        _check_records(gallery, v)
        _check_state(gallery, v)
    return v


def _squash(sql: str) -> str:
    return " ".join(sql.split()).lower()


def _check_triggers(gallery: Gallery, v: Verification) -> None:
    """The append-only triggers are there, as the schema made them (not replaced by
    no-ops of the same name)."""
    made = {name: _squash(sql) for sql in MIGRATIONS[5] for name in TRIGGERS
            if f"create trigger {name} " in _squash(sql)}
    found = dict(gallery.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"))
    for name in TRIGGERS:
        if name not in found:
            v.fail(None, f"the trigger {name} that keeps the log append-only has been removed")
        elif _squash(found[name]) != made[name]:
            v.fail(None, f"the trigger {name} that keeps the log append-only has been changed")


def _purged(gallery: Gallery) -> tuple[set[int], set[int]]:
    """Search ids and decision ids that retention purged (named by purge events)."""
    searches: set[int] = set()
    decisions: set[int] = set()
    for (data,) in gallery.conn.execute("SELECT data FROM audit WHERE kind = 'purge'"):
        with contextlib.suppress(ValueError, TypeError):
            doc = json.loads(data)
            searches.update(doc.get("searches", []))
            decisions.update(doc.get("decisions", []))
    return searches, decisions


def _check_records(gallery: Gallery, v: Verification) -> None:
    conn = gallery.conn
    for table, (kind, cols) in RECORD_FIELDS.items():
        rows = conn.execute(
            f"SELECT t.{', t.'.join(cols)}, t.audit_seq, a.kind, a.data FROM {table} t "
            "LEFT JOIN audit a ON a.seq = t.audit_seq WHERE t.audit_seq IS NOT NULL")
        for row in rows:
            stored = dict(zip(cols, row[:len(cols)], strict=True))
            seq, ev_kind, data = row[len(cols):]
            label = f"{table[:-1].replace('_', ' ')} {stored['id']}"
            if ev_kind is None:
                v.fail(seq, f"{label}: its audit event {seq} is missing")
                continue
            if ev_kind != kind:
                v.fail(seq, f"{label}: audit event {seq} is a {ev_kind}, not a {kind}")
                continue
            try:
                logged = json.loads(data)
            except ValueError:
                continue  # the chain check reports it
            diff = [c for c in cols if logged.get(c) != stored[c]]
            if diff:
                v.fail(seq, f"{label} differs from its audit event {seq} in "
                            f"{', '.join(diff)} (the record was edited)")
    for (dec_id,) in conn.execute("SELECT id FROM decisions WHERE audit_seq IS NULL AND "
                                  "case_id IS NOT NULL"):
        v.fail(None, f"decision {dec_id} of a case has no audit event (added afterwards)")
    # a search's probe and candidate list are what its event says
    for sid, sha, image, shown, seq, data in conn.execute(
            "SELECT s.id, s.probe_sha256, s.probe_image, s.candidates, s.audit_seq, a.data "
            "FROM searches s JOIN audit a ON a.seq = s.audit_seq AND a.kind = 'search'"):
        if image is not None and hashlib.sha256(bytes(image)).hexdigest() != sha:
            v.fail(seq, f"search {sid}: its probe image is not the one searched (its SHA-256 "
                        "differs; the image was replaced)")
        with contextlib.suppress(ValueError, TypeError, KeyError):
            logged = json.loads(data)["candidates"]
            stored_list = [{k: c[k] for k in ("rank", "person_id", "face_id", "distance")}
                           for c in json.loads(shown)]
            if stored_list != logged:
                v.fail(seq, f"search {sid}: its candidate list differs from its audit event "
                            f"{seq} (the record was edited)")
    # every search, decision and second review logged is still there, unless purged
    purged_searches, purged_decisions = _purged(gallery)
    present = {t: {r[0] for r in conn.execute(f"SELECT id FROM {t}")}
               for t in ("searches", "decisions", "lead_reviews")}
    for seq, kind, data in conn.execute(
            "SELECT seq, kind, data FROM audit WHERE kind IN ('search', 'decision', "
            "'lead_review') ORDER BY seq"):
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        table, gone = {"search": ("searches", doc.get("id") in purged_searches),
                       "decision": ("decisions", doc.get("id") in purged_decisions),
                       "lead_review": ("lead_reviews",
                                       doc.get("decision_id") in purged_decisions)}[kind]
        if doc.get("id") not in present[table] and not gone:
            v.fail(seq, f"the {KINDS[kind].lower()} of audit event {seq} (id {doc.get('id')}) "
                        "is missing from the gallery and no purge removed it (deleted)")


def _check_state(gallery: Gallery, v: Verification) -> None:
    """Users, cases and settings as their events left them (no role raised, no case
    reopened, no setting changed, by raw SQL)."""
    conn = gallery.conn
    users: dict[str, dict[str, Any]] = {}
    cases: dict[int, dict[str, Any]] = {}
    settings: dict[str, Any] = {}
    for seq, kind, case_id, data in conn.execute(
            "SELECT seq, kind, case_id, data FROM audit WHERE kind IN ('user_added', "
            "'user_changed', 'case_opened', 'case_closed', 'setting_changed') ORDER BY seq"):
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        if kind == "user_added":
            users[doc["user"]] = {"role": doc["role"], "active": 1, "seq": seq}
        elif kind == "user_changed" and doc.get("user") in users:
            changes = doc.get("changes", {})
            users[doc["user"]].update({k: changes[k] for k in ("role", "active")
                                       if k in changes}, seq=seq)
        elif kind == "case_opened" and case_id is not None:
            cases[case_id] = {"training": int(bool(doc.get("training"))), "closed": False,
                              "seq": seq}
        elif kind == "case_closed" and case_id in cases:
            cases[case_id].update(closed=True, seq=seq)
        elif kind == "setting_changed":
            settings[doc["setting"]] = (doc.get("to"), seq)
    for uid, role, active in conn.execute("SELECT id, role, active FROM users"):
        logged = users.get(uid)
        if logged is None:
            v.fail(None, f"user {uid} was never added through FaceDesk (no audit event)")
        elif (logged["role"], int(logged["active"])) != (role, int(active)):
            v.fail(logged["seq"], f"user {uid}: role or active state differs from the audit "
                                  f"log (last event {logged['seq']}; changed by raw SQL)")
    for cid, number, training, closed_at in conn.execute(
            "SELECT id, number, training, closed_at FROM cases"):
        logged = cases.get(cid)
        if logged is None:
            v.fail(None, f"case {number} was never opened through FaceDesk (no audit event)")
        elif (logged["training"], logged["closed"]) != (int(training), closed_at is not None):
            v.fail(logged["seq"], f"case {number}: training or closed state differs from the "
                                  f"audit log (last event {logged['seq']}; changed by raw SQL)")
    stored = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'setting:%' "
                               "OR key = 'calibration_id'"))
    for key, value in stored.items():
        name = "calibration" if key == "calibration_id" else key.split(":", 1)[1]
        logged_value, seq = settings.get(name, (None, None))
        if name == "calibration":
            ok = seq is None or str(logged_value) == value  # set before the log existed
        else:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
            ok = seq is not None and logged_value == value
        if not ok:
            v.fail(seq, f"the setting {name} differs from the audit log (changed by raw SQL)")
    for name, (logged_value, seq) in settings.items():
        key = "calibration_id" if name == "calibration" else f"setting:{name}"
        if key not in stored and logged_value is not None and name != "calibration":
            v.fail(seq, f"the setting {name} logged at event {seq} is missing from the gallery")


# --- export ---------------------------------------------------------------------------------


def export(gallery: Gallery, out_dir: Path, *, user_id: str | None) -> dict[str, Any]:
    """Write the whole log to OUT_DIR/audit-log.json and audit-log.csv, then record the
    export (with the head it ends at and the files' SHA-256) as the next event. Returns
    that head (seq, hash): keep it, or give the files, to whoever checks the log later."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out_dir / "audit-log.json", out_dir / "audit-log.csv"
    with gallery.read():
        evs = list(_db_events(gallery))
    if not evs:
        raise ValueError("the audit log is empty")
    last = evs[-1]
    doc = {
        "format": "facedesk-audit-log/1",
        "gallery_id": gallery.gallery_id,
        "exported_at": now(),
        "exported_by": user_id,
        "algorithm": ALGORITHM,
        "head": {"seq": last.seq, "hash": last.hash},
        "events": [e.as_dict() for e in evs],
    }
    json_tmp = json_path.with_suffix(".json.part")
    json_tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    csv_tmp = csv_path.with_suffix(".csv.part")
    with csv_tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["seq", "at", "user_id", "kind", "case_id", "data", "prev_hash", "hash"])
        for e in evs:
            w.writerow([e.seq, e.at, e.user_id or "", e.kind,
                        "" if e.case_id is None else e.case_id, canonical(e.data),
                        e.prev_hash, e.hash])
        w.writerow([f"# head event {last.seq} hash {last.hash}; gallery {gallery.gallery_id}"])
    files = [{"name": p.name, "sha256": hashlib.sha256(t.read_bytes()).hexdigest()}
             for p, t in ((json_path, json_tmp), (csv_path, csv_tmp))]
    # the files are complete: the export is recorded, then they take their names
    record(gallery, "export", {"what": "audit log", "head_seq": last.seq,
                               "head_hash": last.hash, "files": files}, user_id=user_id)
    json_tmp.replace(json_path)
    csv_tmp.replace(csv_path)
    return {"seq": last.seq, "hash": last.hash, "json": str(json_path), "csv": str(csv_path),
            "events": len(evs)}


def verify_export(path: Path) -> Verification:
    """Check an exported audit-log.json on its own (no gallery needed): the chain, and
    that it ends at the head the file names."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    evs = (Event(e["seq"], e["at"], e.get("user_id"), e["kind"], e.get("case_id"),
                 e["data"], e["prev_hash"], e["hash"]) for e in doc["events"])
    head_doc = doc.get("head") or {}
    v = verify_chain(evs, doc["gallery_id"], expect_head=head_doc.get("hash"),
                     expect_seq=head_doc.get("seq"))
    if head_doc and v.head_seq != head_doc.get("seq"):
        named = head_doc.get("seq")
        ends = v.head_seq or 0  # first bad: the first event missing, or beyond the head
        v.fail(min(ends, named) + 1 if isinstance(named, int) else ends + 1,
               f"the file names event {named} as its head but ends at event {v.head_seq}")
    return v


def read_expected_head(value: str) -> tuple[str, int | None]:
    """A head given on the command line: a hash, or an exported audit-log.json."""
    p = Path(value)
    if len(value) != 64 and p.exists():
        head_doc = json.loads(p.read_text(encoding="utf-8")).get("head") or {}
        return str(head_doc.get("hash", "")), head_doc.get("seq")
    return value.strip().lower(), None
