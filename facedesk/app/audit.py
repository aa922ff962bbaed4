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
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facedesk.app import witness
from facedesk.domain import private
from facedesk.domain.csvsafe import write_csv
from facedesk.store import Gallery
from facedesk.store import records as rec
from facedesk.store.schema import APPLICATION_ID, SCHEMA_VERSION

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
    "import_batch": "Gallery content stored",
    "calibration_added": "Calibration stored",
    "integrity_baseline": "Record digests baselined",
    "backup": "Backup made",
    "restore": "Restored from a backup",
    "user_unlocked": "User unlocked",
    "lab": "Accuracy lab",
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
                            "top_k", "lookalikes")),
}
#: record fields stored as JSON text and logged as the decoded value
JSON_FIELDS = frozenset({"lookalikes"})


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


#: the key of an event's data that carries the digests of the records it wrote
RECORDS_KEY = "records"


def record_digests(conn: sqlite3.Connection, records: Mapping[str, Iterable[Any]]
                   ) -> dict[str, Any]:
    """{table: {"v": version, "rows": {key: digest or None}}} of the named rows as they
    are now (None: not there, i.e. deleted)."""
    out: dict[str, Any] = {}
    for table, keys in records.items():
        rows = rec.digests_of(conn, table, keys)
        if rows:
            out[table] = {"v": rec.current_version(table), "rows": rows}
    return out


def append(conn: sqlite3.Connection, gallery_id: str, kind: str, data: dict[str, Any], *,
           user_id: str | None = None, case_id: int | None = None,
           records: Mapping[str, Iterable[Any]] | None = None) -> Event:
    """Append one event. Call inside a write transaction (`with gallery.write() as conn`),
    in the same transaction as the change the event records. `records` names the rows
    the change created, changed or deleted ({table: keys}, tables of
    `facedesk.store.records.RECORD_COLUMNS`): their digests, read now, go into the
    event's data under "records", and `verify` checks the rows against them."""
    if not conn.in_transaction:
        raise RuntimeError("audit.append needs an open write transaction")
    if kind not in KINDS:
        raise ValueError(f"unknown audit event kind {kind!r}")
    if records:
        data = {**data, RECORDS_KEY: record_digests(conn, records)}
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


def _witness_head(gallery: Gallery) -> None:
    """After every committed write: the head, if it moved, goes to the external witness."""
    try:
        row = gallery.conn.execute(
            "SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.Error:  # no audit table yet (migrating), or a damaged file
        return
    if row is not None:
        witness.witness(gallery, int(row[0]), str(row[1]), str(row[2]))


Gallery.add_commit_listener(_witness_head)


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
           expect_seq: int | None = None, use_witness: bool = True) -> Verification:
    """Check the whole chain; the schema (no trigger, view, table or index FaceDesk did
    not make, none removed or altered); every record against the digest its last event
    logged (users, cases, settings, calibrations, searches, decisions, second reviews,
    persons, photos, faces, engines); the stored records against their events; and,
    unless `use_witness` is False (a backup being checked), the head against the external
    witness (facedesk.app.witness)."""
    replay = _Replay()
    with gallery.read():
        v = verify_chain(replay.feed(_db_events(gallery)), gallery.gallery_id,
                         expect_head=expect_head, expect_seq=expect_seq)
        _check_schema(gallery, v)
        _check_digests(gallery, v, replay)
        _check_records(gallery, v)
        _check_state(gallery, v)
    if use_witness:
        w = witness.check(gallery.gallery_id, replay.hashes, v.head_seq, gallery.path)
        for seq, message in w.failures:
            v.fail(seq, message)
        v.notes.extend(w.notes)
    return v


class _Replay:
    """What the events say the records are: (table, key) -> (version, digest or None,
    seq of the last event that recorded it); and seq -> hash for the witness."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], tuple[int, str | None, int]] = {}
        self.hashes: dict[int, str] = {}
        self.unreadable: list[int] = []

    def feed(self, evs: Iterator[Event]) -> Iterator[Event]:
        for ev in evs:
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
            yield ev


def _squash(sql: str) -> str:
    return " ".join(sql.split()).lower()


def _check_schema(gallery: Gallery, v: Verification) -> None:
    """The schema is the one FaceDesk's migrations made: an added trigger (one with
    RAISE(IGNORE) silently drops writes), view, table or index is reported, and so is one
    removed or altered; the append-only triggers by name."""
    for change, obj in rec.schema_differences(gallery.conn):
        what = f"the {obj.type} {obj.name}" + (f" on {obj.table}" if obj.type in (
            "trigger", "index") else "")
        if obj.name in TRIGGERS and change != "added":
            verb = "removed" if change == "removed" else "changed"
            v.fail(None, f"the trigger {obj.name} that keeps the log append-only has been "
                         f"{verb}")
        elif change == "added":
            v.fail(None, f"{what} was not created by FaceDesk (added to the gallery "
                         "outside FaceDesk: it can change or hide what is written)")
        elif change == "removed":
            v.fail(None, f"{what} that FaceDesk created has been removed")
        elif change == "altered":
            v.fail(None, f"{what} is not as FaceDesk created it (altered)")
        else:
            v.fail(None, f"the gallery's header ({obj.name}) is not FaceDesk's "
                         f"(schema {SCHEMA_VERSION}, application id "
                         f"{APPLICATION_ID:#x})")


#: detailed findings per table and kind before they are counted instead
_DETAIL = 20


def _check_digests(gallery: Gallery, v: Verification, replay: _Replay) -> None:
    """Every record row has the digest its last event logged; every row an event logged
    (and no later event deleted) is there."""
    conn = gallery.conn
    for seq in replay.unreadable:
        v.fail(seq, f"event {seq}: its record digests cannot be read (edited)")
    by_table: dict[str, dict[str, tuple[int, str | None, int]]] = {}
    for (table, key), value in replay.latest.items():
        by_table.setdefault(table, {})[key] = value
    for table in by_table:
        if table not in rec.RECORD_COLUMNS:
            seq = next(iter(by_table[table].values()))[2]
            v.fail(seq, f"event {seq} records digests of an unknown table {table!r} (a "
                        "newer FaceDesk, or edited)")
    for table, spec in rec.RECORD_COLUMNS.items():
        label = rec.LABELS[table]
        logged = by_table.get(table, {})
        findings: dict[str, list[tuple[str, int | None, str]]] = {}

        def note(kind: str, key: str, seq: int | None, message: str,
                 findings: dict[str, list[tuple[str, int | None, str]]] = findings) -> None:
            findings.setdefault(kind, []).append((key, seq, message))

        present: set[str] = set()
        versions = sorted({ver for ver, _, _ in logged.values()} | {max(spec)})
        try:
            current: dict[int, dict[str, str]] = {}
            for version in versions:
                if version not in spec:
                    note("version", "", None, f"{table}: digests of version {version} are "
                                              "not known to this FaceDesk (a newer one wrote "
                                              "them)")
                    continue
                current[version] = dict(rec.all_digests(conn, table, version))
            present = set(current[max(spec)])
        except sqlite3.Error as exc:
            v.fail(None, f"the {table} table cannot be read as FaceDesk made it ({exc})")
            continue
        for key in present:
            entry = logged.get(key)
            if entry is None:
                note("unlogged", key, None, f"{label} {key} was not written through "
                                            "FaceDesk: no audit event records it (added or "
                                            "changed by raw SQL, or made before FaceDesk "
                                            "logged record digests)")
                continue
            version, dig, seq = entry
            now_digest = current.get(version, {}).get(key)
            if dig is None:
                note("revived", key, seq, f"{label} {key} was deleted by audit event {seq} "
                                          "but is in the gallery again (put back by raw SQL)")
            elif now_digest is not None and now_digest != dig:
                note("changed", key, seq, f"{label} {key} differs from what audit event "
                                          f"{seq} recorded (changed outside FaceDesk)")
        for key, (_, dig, seq) in logged.items():
            if dig is not None and key not in present:
                note("deleted", key, seq, f"{label} {key}, recorded by audit event {seq}, "
                                          "is missing from the gallery (deleted outside "
                                          "FaceDesk)")
        for items in findings.values():
            items.sort(key=lambda item: _natural(item[0]))
            for _, at, message in items[:_DETAIL]:
                v.fail(at, message)
            if len(items) > _DETAIL:
                first = min((s for _, s, _ in items if s is not None), default=None)
                v.fail(first, f"… and {len(items) - _DETAIL} more {table} like the above")


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 62, key)


def unlogged_records(gallery: Gallery) -> dict[str, list[str]]:
    """Record rows that no event has ever recorded a digest of, by table."""
    replay = _Replay()
    for _ in replay.feed(_db_events(gallery)):
        pass
    logged = set(replay.latest)
    out: dict[str, list[str]] = {}
    for table in rec.RECORD_COLUMNS:
        keys = sorted((k for k in rec.all_keys(gallery.conn, table)
                       if (table, k) not in logged), key=_natural)
        if keys:
            out[table] = keys
    return out


def baseline(gallery: Gallery, *, user_id: str | None) -> Event | None:
    """Record the digests of every record row that no event recorded yet (a gallery made
    before FaceDesk logged record digests), as one "integrity_baseline" event: from then
    on any change to them is found. It vouches for nothing before it (trust on first use),
    and says so; rows an event already recorded are never re-recorded (a baseline cannot
    cover up a change). None when there is nothing to record."""
    with gallery.write() as conn:
        missing = unlogged_records(gallery)
        if not missing:
            return None
        keys = {t: [int(k) if k.isdigit() else k for k in ks] for t, ks in missing.items()}
        return append(conn, gallery.gallery_id, "integrity_baseline", {
            "counts": {t: len(ks) for t, ks in missing.items()},
            "note": "digests of records written before FaceDesk logged them: checked from "
                    "here on, not vouched for before"}, user_id=user_id, records=keys)


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


def _json_or_text(value: Any) -> Any:
    """A JSON column's value decoded (NULL stays None; text that is not JSON stays text,
    so it differs from what was logged)."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def _check_records(gallery: Gallery, v: Verification) -> None:
    conn = gallery.conn
    for table, (kind, cols) in RECORD_FIELDS.items():
        rows = conn.execute(
            f"SELECT t.{', t.'.join(cols)}, t.audit_seq, a.kind, a.data FROM {table} t "
            "LEFT JOIN audit a ON a.seq = t.audit_seq WHERE t.audit_seq IS NOT NULL")
        for row in rows:
            stored = dict(zip(cols, row[:len(cols)], strict=True))
            for c in JSON_FIELDS.intersection(cols):
                stored[c] = _json_or_text(stored[c])
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
            if not isinstance(logged, dict):
                continue  # the chain check reports it
            missing = [c for c in cols if c not in logged]
            if missing:
                v.fail(seq, f"{label}: its audit event {seq} lacks {', '.join(missing)} "
                            "(the event was edited)")
            diff = [c for c in cols if c in logged and logged[c] != stored[c]]
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
        try:
            logged = json.loads(data)["candidates"]
            stored_list = [{k: c[k] for k in ("rank", "person_id", "face_id", "distance")}
                           for c in json.loads(shown)]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # fail closed: a field missing from the list or the event is a failure
            v.fail(seq, f"search {sid}: its candidate list cannot be checked against its "
                        f"audit event {seq} ({type(exc).__name__}: {exc}; the record or the "
                        "event was edited)")
            continue
        if stored_list != logged:
            v.fail(seq, f"search {sid}: its candidate list differs from its audit event "
                        f"{seq} (the record was edited)")
    _check_provenance(conn, v)
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


def _check_provenance(conn: sqlite3.Connection, v: Verification) -> None:
    """A clip search's provenance (where its probe came from, facedesk.domain.clips) is the
    one its event logged, and each stored frame PNG is the one the provenance names."""
    for sid, stored, seq, data in conn.execute(
            "SELECT s.id, s.provenance, s.audit_seq, a.data FROM searches s "
            "JOIN audit a ON a.seq = s.audit_seq AND a.kind = 'search'"):
        try:
            logged = json.loads(data).get("provenance")
            kept = None if stored is None else json.loads(stored)
        except (ValueError, AttributeError):
            continue  # the chain check reports a damaged event
        if kept != logged:
            v.fail(seq, f"search {sid}: its clip provenance differs from its audit event "
                        f"{seq} (the record was edited)")
            continue
        frames = (kept or {}).get("frames") or []
        rows = conn.execute("SELECT position, png, sha256 FROM search_frames "
                            "WHERE search_id = ? ORDER BY position", (sid,)).fetchall()
        named = [f.get("png_sha256") for f in frames]
        if [r[2] for r in rows] != named:
            v.fail(seq, f"search {sid}: its stored frames are not the {len(named)} its "
                        "provenance names (added, removed or replaced)")
            continue
        for pos, png, sha in rows:
            # a purge deletes a search's frames with it: a frame without its PNG was erased
            if png is None or hashlib.sha256(bytes(png)).hexdigest() != sha:
                v.fail(seq, f"search {sid}: the PNG of frame {pos + 1} is not the one "
                            "searched (erased, or its SHA-256 differs: replaced)")


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
            ok = seq is not None and str(logged_value) == value
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
    private.make_dirs(out_dir)
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
    # readable by the exporter only; every CSV cell a spreadsheet would run as a formula
    # (a user id "=HYPERLINK(...)") is neutralised
    json_tmp = json_path.with_suffix(".json.part")
    private.write_text(json_tmp, json.dumps(doc, indent=1, ensure_ascii=False))
    csv_tmp = csv_path.with_suffix(".csv.part")
    write_csv(csv_tmp, ["seq", "at", "user_id", "kind", "case_id", "data", "prev_hash", "hash"],
              [*([e.seq, e.at, e.user_id or "", e.kind, "" if e.case_id is None else e.case_id,
                  canonical(e.data), e.prev_hash, e.hash] for e in evs),
               [f"# head event {last.seq} hash {last.hash}; gallery {gallery.gallery_id}"]])
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
