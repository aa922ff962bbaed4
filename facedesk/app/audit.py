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

Where things live: the hashing is facedesk.domain.chain (pure), the rows are
facedesk.store.audit_log; this module holds the use cases. The long ones are generators
of progress events that stop at a CancelToken (`verify_steps`, `export_steps`,
`verify_export_steps`); `verify`, `export` and `verify_export` run them to their end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facedesk.app import witness
from facedesk.domain import private
from facedesk.domain.chain import (
    ALGORITHM,
    KINDS,
    RECORDS_KEY,
    ChainCheck,
    Event,
    RecordReplay,
    Verification,
    canonical,
    event_hash,
    genesis_hash,
    link,
    parse_data,
    verify_chain,
)
from facedesk.domain.csvsafe import write_csv
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.store import Gallery
from facedesk.store import audit_log as log
from facedesk.store import records as rec
from facedesk.store.schema import APPLICATION_ID, SCHEMA_VERSION

if TYPE_CHECKING:
    from facedesk.store.db import Connection

__all__ = ["ALGORITHM", "KINDS", "RECORDS_KEY", "Event", "Verification", "canonical",
           "event_hash", "genesis_hash", "verify_chain"]

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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def append(conn: Connection, gallery_id: str, kind: str, data: dict[str, Any], *,
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
        data = {**data, RECORDS_KEY: log.record_digests(conn, records)}
    last = log.last_link(conn)
    seq, prev = (1, genesis_hash(gallery_id)) if last is None else (last[0] + 1, last[1])
    ev = link(prev, seq, now(), user_id, kind, case_id, data)
    log.insert(conn, log.AuditRow(ev.seq, ev.at, ev.user_id, ev.kind, ev.case_id,
                                  canonical(ev.data), ev.prev_hash, ev.hash))
    return ev


def record(gallery: Gallery, kind: str, data: dict[str, Any], *, user_id: str | None = None,
           case_id: int | None = None) -> Event:
    """Append one event in a transaction of its own (for events that change nothing else,
    e.g. a candidate viewed)."""
    with gallery.write() as conn:
        return append(conn, gallery.gallery_id, kind, data, user_id=user_id, case_id=case_id)


def _witness_head(gallery: Gallery) -> None:
    """After every committed write: the head, if it moved, goes to the external witness."""
    row = log.head_or_none(gallery)
    if row is not None:
        witness.witness(gallery, int(row.seq), str(row.hash), str(row.at))


Gallery.add_commit_listener(_witness_head)


def _event(row: log.AuditRow) -> Event:
    return Event(row.seq, row.at, row.user_id, row.kind, row.case_id, parse_data(row.data),
                 row.prev_hash, row.hash)


def events(gallery: Gallery, *, case_id: int | None = None,
           kinds: Iterable[str] | None = None, limit: int | None = None) -> list[Event]:
    """Events in order (oldest first); filtered by case and kinds."""
    return [_event(r) for r in log.rows(gallery, case_id=case_id, kinds=kinds, limit=limit)]


def event(gallery: Gallery, seq: int) -> Event | None:
    row = log.row_at(gallery, seq)
    return None if row is None else _event(row)


def head(gallery: Gallery) -> Event | None:
    row = log.last_row(gallery)
    return None if row is None else _event(row)


def _db_events(gallery: Gallery) -> Iterator[Event]:
    """Every event in order, streamed (call inside `gallery.read()`)."""
    for row in log.rows(gallery):
        yield _event(row)


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyProgress:
    """One step of `verify_steps`. `step` is "chain" (done/total events checked), "schema",
    "digests" (done/total tables), "records", "state", "witness", then "finished" with
    `result`, or "cancelled" (no result: nothing was written, the check stopped)."""

    step: str
    done: int = 0
    total: int = 0
    result: Verification | None = None


#: events checked between two progress reports (and cancel checks)
VERIFY_EVERY = 2000


def verify_steps(gallery: Gallery, *, expect_head: str | None = None,
                 expect_seq: int | None = None, use_witness: bool = True,
                 cancel: CancelToken | None = None) -> Iterator[VerifyProgress]:
    """`verify` as a generator: progress after every VERIFY_EVERY events and every step,
    checking `cancel` after each. Verification only reads; cancelled, it leaves the
    gallery as it was and ends with a "cancelled" event."""
    cancel = cancel or CancelToken()
    v = Verification()
    replay = RecordReplay()
    with gallery.read():
        for p in _verify_gallery(gallery, v, replay, expect_head, expect_seq):
            yield p
            if cancel.cancelled:
                yield VerifyProgress("cancelled")
                return
    if use_witness:
        yield VerifyProgress("witness")
        # events another writer (an import running meanwhile) appended after this check's
        # snapshot are in the witness already: they are compared as the log has them now,
        # so that a log still growing is not taken for one cut short
        seen = {**log.hashes_after(gallery, v.head_seq or 0), **replay.hashes}
        w = witness.check(gallery.gallery_id, seen, v.head_seq, gallery.location)
        for seq, message in w.failures:
            v.fail(seq, message)
        v.notes.extend(w.notes)
    yield VerifyProgress("finished", v.events, v.events, v)


def _verify_gallery(gallery: Gallery, v: Verification, replay: RecordReplay,
                    expect_head: str | None, expect_seq: int | None
                    ) -> Iterator[VerifyProgress]:
    """The checks of `verify` in the gallery (in one read snapshot), findings into `v`;
    a progress event before each step and every VERIFY_EVERY events."""
    total = log.count(gallery)
    check = ChainCheck(gallery.gallery_id, v)
    yield VerifyProgress("chain", 0, total)
    for ev in _db_events(gallery):
        replay.add(ev)
        check.add(ev)
        if v.events % VERIFY_EVERY == 0:
            yield VerifyProgress("chain", v.events, total)
    check.finish(expect_head=expect_head, expect_seq=expect_seq)
    yield VerifyProgress("schema")
    _check_schema(gallery, v)
    for done, tables in _check_digests(gallery, v, replay):
        yield VerifyProgress("digests", done, tables)
    yield VerifyProgress("records")
    _check_records(gallery, v)
    yield VerifyProgress("state")
    _check_state(gallery, v)


def verify(gallery: Gallery, *, expect_head: str | None = None,
           expect_seq: int | None = None, use_witness: bool = True) -> Verification:
    """Check the whole chain; the schema (no trigger, view, table or index FaceDesk did
    not make, none removed or altered); every record against the digest its last event
    logged (users, cases, settings, calibrations, searches, decisions, second reviews,
    persons, photos, faces, engines); the stored records against their events; and,
    unless `use_witness` is False (a backup being checked), the head against the external
    witness (facedesk.app.witness). To report progress or cancel: `verify_steps`."""
    v = run_to_end(verify_steps(gallery, expect_head=expect_head, expect_seq=expect_seq,
                                use_witness=use_witness))
    assert v is not None  # nothing cancels it
    return v


def _check_schema(gallery: Gallery, v: Verification) -> None:
    """The schema is the one FaceDesk's migrations made: an added trigger (one with
    RAISE(IGNORE) silently drops writes), view, table or index is reported, and so is one
    removed or altered; the append-only triggers by name."""
    for change, obj in log.schema_differences(gallery):
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


def _check_digests(gallery: Gallery, v: Verification, replay: RecordReplay
                   ) -> Iterator[tuple[int, int]]:
    """Every record row has the digest its last event logged; every row an event logged
    (and no later event deleted) is there. Yields (tables done, tables) after each."""
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
    for done, (table, spec) in enumerate(rec.RECORD_COLUMNS.items(), 1):
        yield done - 1, len(rec.RECORD_COLUMNS)
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
                current[version] = log.current_digests(gallery, table, version)
            present = set(current[max(spec)])
        except log.TableUnreadable as exc:
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
    yield len(rec.RECORD_COLUMNS), len(rec.RECORD_COLUMNS)


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 62, key)


def unlogged_records(gallery: Gallery) -> dict[str, list[str]]:
    """Record rows that no event has ever recorded a digest of, by table."""
    replay = RecordReplay()
    for ev in _db_events(gallery):
        replay.add(ev)
    logged = set(replay.latest)
    out: dict[str, list[str]] = {}
    for table in rec.RECORD_COLUMNS:
        keys = sorted((k for k in log.record_keys(gallery, table)
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
    for row in log.rows(gallery, kinds=["purge"]):
        with contextlib.suppress(ValueError, TypeError):
            doc = json.loads(row.data)
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
    for table, (kind, cols) in RECORD_FIELDS.items():
        for rec_row in log.logged_records(gallery, table, cols):
            stored = dict(zip(cols, rec_row.values, strict=True))
            for c in JSON_FIELDS.intersection(cols):
                stored[c] = _json_or_text(stored[c])
            seq, ev_kind, data = rec_row.seq, rec_row.event_kind, rec_row.event_data
            label = f"{table[:-1].replace('_', ' ')} {stored['id']}"
            if ev_kind is None:
                v.fail(seq, f"{label}: its audit event {seq} is missing")
                continue
            if ev_kind != kind:
                v.fail(seq, f"{label}: audit event {seq} is a {ev_kind}, not a {kind}")
                continue
            try:
                logged = json.loads(data or "")
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
    for dec_id in log.unlogged_case_decisions(gallery):
        v.fail(None, f"decision {dec_id} of a case has no audit event (added afterwards)")
    # a search's probe and candidate list are what its event says
    searches = log.searches_with_events(gallery)
    for s in searches:
        sid, sha, image, shown, seq, data = (s.search_id, s.probe_sha256, s.probe_image,
                                             s.candidates, s.seq, s.event_data)
        if image is not None and hashlib.sha256(image).hexdigest() != sha:
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
    _check_provenance(gallery, searches, v)
    # every search, decision and second review logged is still there, unless purged
    purged_searches, purged_decisions = _purged(gallery)
    present = {t: log.record_ids(gallery, t) for t in log.ID_TABLES}
    for row in log.rows(gallery, kinds=["search", "decision", "lead_review"]):
        seq, kind = row.seq, row.kind
        try:
            doc = json.loads(row.data)
        except ValueError:
            continue
        table, gone = {"search": ("searches", doc.get("id") in purged_searches),
                       "decision": ("decisions", doc.get("id") in purged_decisions),
                       "lead_review": ("lead_reviews",
                                       doc.get("decision_id") in purged_decisions)}[kind]
        if doc.get("id") not in present[table] and not gone:
            v.fail(seq, f"the {KINDS[kind].lower()} of audit event {seq} (id {doc.get('id')}) "
                        "is missing from the gallery and no purge removed it (deleted)")


def _check_provenance(gallery: Gallery, searches: list[log.SearchWithEvent],
                      v: Verification) -> None:
    """A clip search's provenance (where its probe came from, facedesk.domain.clips) is the
    one its event logged, and each stored frame PNG is the one the provenance names."""
    for s in searches:
        sid, stored, seq, data = s.search_id, s.provenance, s.seq, s.event_data
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
        rows = log.search_frames(gallery, sid)
        named = [f.get("png_sha256") for f in frames]
        if [r.sha256 for r in rows] != named:
            v.fail(seq, f"search {sid}: its stored frames are not the {len(named)} its "
                        "provenance names (added, removed or replaced)")
            continue
        for frame in rows:
            # a purge deletes a search's frames with it: a frame without its PNG was erased
            if frame.png is None or hashlib.sha256(frame.png).hexdigest() != frame.sha256:
                v.fail(seq, f"search {sid}: the PNG of frame {frame.position + 1} is not the one "
                            "searched (erased, or its SHA-256 differs: replaced)")


def _check_state(gallery: Gallery, v: Verification) -> None:
    """Users, cases and settings as their events left them (no role raised, no case
    reopened, no setting changed, by raw SQL)."""
    users: dict[str, dict[str, Any]] = {}
    cases: dict[int, dict[str, Any]] = {}
    settings: dict[str, Any] = {}
    for row in log.rows(gallery, kinds=["user_added", "user_changed", "case_opened",
                                        "case_closed", "setting_changed"]):
        seq, kind, case_id = row.seq, row.kind, row.case_id
        try:
            doc = json.loads(row.data)
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
    for user in log.user_states(gallery):
        uid, role, active = user.user_id, user.role, user.active
        logged = users.get(uid)
        if logged is None:
            v.fail(None, f"user {uid} was never added through FaceDesk (no audit event)")
        elif (logged["role"], int(logged["active"])) != (role, int(active)):
            v.fail(logged["seq"], f"user {uid}: role or active state differs from the audit "
                                  f"log (last event {logged['seq']}; changed by raw SQL)")
    for case in log.case_states(gallery):
        cid, number, training, closed_at = (case.case_id, case.number, case.training,
                                            case.closed_at)
        logged = cases.get(cid)
        if logged is None:
            v.fail(None, f"case {number} was never opened through FaceDesk (no audit event)")
        elif (logged["training"], logged["closed"]) != (int(training), closed_at is not None):
            v.fail(logged["seq"], f"case {number}: training or closed state differs from the "
                                  f"audit log (last event {logged['seq']}; changed by raw SQL)")
    stored = log.stored_settings(gallery)
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


@dataclass(frozen=True)
class AuditExport:
    """An export's files and the head it ends at (keep it: whoever checks the files
    later compares it)."""

    seq: int
    hash: str
    json: Path
    csv: Path
    events: int

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "json": str(self.json),
                "csv": str(self.csv), "events": self.events}


@dataclass(frozen=True)
class ExportProgress:
    """One step of `export_steps`: "reading" (done/total events), "writing", "recording",
    then "finished" with `result`, or "cancelled" (no file written, no event recorded)."""

    step: str
    done: int = 0
    total: int = 0
    result: AuditExport | None = None


def export_steps(gallery: Gallery, out_dir: Path, *, user_id: str | None,
                 cancel: CancelToken | None = None) -> Iterator[ExportProgress]:
    """Write the whole log to OUT_DIR/audit-log.json and audit-log.csv, then record the
    export (with the head it ends at and the files' SHA-256) as the next event; the last
    progress event is "finished" with the head (seq, hash): keep it, or give the files,
    to whoever checks the log later. Cancelled before the export is recorded, it removes
    its partial files and ends with "cancelled"."""
    cancel = cancel or CancelToken()
    private.make_dirs(out_dir)
    json_path, csv_path = out_dir / "audit-log.json", out_dir / "audit-log.csv"
    json_tmp = json_path.with_suffix(".json.part")
    csv_tmp = csv_path.with_suffix(".csv.part")
    evs: list[Event] = []
    files: list[dict[str, str]] = []
    recorded = False
    try:
        for p in _write_export(gallery, user_id, evs, files, (json_tmp, json_path),
                               (csv_tmp, csv_path)):
            yield p
            if cancel.cancelled:
                yield ExportProgress("cancelled")
                return
        last = evs[-1]
        # the files are complete: the export is recorded, then they take their names
        record(gallery, "export", {"what": "audit log", "head_seq": last.seq,
                                   "head_hash": last.hash, "files": files}, user_id=user_id)
        recorded = True
        json_tmp.replace(json_path)
        csv_tmp.replace(csv_path)
    finally:
        if not recorded:
            for t in (json_tmp, csv_tmp):
                with contextlib.suppress(OSError):
                    t.unlink()
    yield ExportProgress("finished", len(evs), len(evs),
                         AuditExport(last.seq, last.hash, json_path, csv_path, len(evs)))


def _write_export(gallery: Gallery, user_id: str | None, evs: list[Event],
                  files: list[dict[str, str]], json_file: tuple[Path, Path],
                  csv_file: tuple[Path, Path]) -> Iterator[ExportProgress]:
    """Read every event into `evs` and write them to the temporary files of `json_file`
    and `csv_file` (temporary name, final name); `files` gets their names and SHA-256.
    A progress event every VERIFY_EVERY events read, and before and after writing."""
    with gallery.read():
        total = log.count(gallery)
        yield ExportProgress("reading", 0, total)
        for ev in _db_events(gallery):
            evs.append(ev)
            if len(evs) % VERIFY_EVERY == 0:
                yield ExportProgress("reading", len(evs), total)
    if not evs:
        raise ValueError("the audit log is empty")
    yield ExportProgress("writing", len(evs), len(evs))
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
    private.write_text(json_file[0], json.dumps(doc, indent=1, ensure_ascii=False))
    write_csv(csv_file[0], ["seq", "at", "user_id", "kind", "case_id", "data", "prev_hash",
                            "hash"],
              [*([e.seq, e.at, e.user_id or "", e.kind, "" if e.case_id is None else e.case_id,
                  canonical(e.data), e.prev_hash, e.hash] for e in evs),
               [f"# head event {last.seq} hash {last.hash}; gallery {gallery.gallery_id}"]])
    files.extend({"name": final.name, "sha256": hashlib.sha256(tmp.read_bytes()).hexdigest()}
                 for tmp, final in (json_file, csv_file))
    yield ExportProgress("recording", len(evs), len(evs))


def export(gallery: Gallery, out_dir: Path, *, user_id: str | None) -> AuditExport:
    """`export_steps` run to its end: the head the export ends at, and its files."""
    result = run_to_end(export_steps(gallery, out_dir, user_id=user_id))
    assert result is not None  # nothing cancels it
    return result


def _export_events(doc: dict[str, Any]) -> Iterator[Event]:
    for e in doc["events"]:
        yield Event(e["seq"], e["at"], e.get("user_id"), e["kind"], e.get("case_id"),
                    e["data"], e["prev_hash"], e["hash"])


def verify_export_steps(path: Path, *, cancel: CancelToken | None = None
                        ) -> Iterator[VerifyProgress]:
    """Check an exported audit-log.json on its own (no gallery needed): the chain, and
    that it ends at the head the file names. Progress as `verify_steps` ("chain", then
    "finished" with the result, or "cancelled")."""
    cancel = cancel or CancelToken()
    doc = json.loads(path.read_text(encoding="utf-8"))
    total = len(doc["events"])
    head_doc = doc.get("head") or {}
    check = ChainCheck(doc["gallery_id"])
    yield VerifyProgress("chain", 0, total)
    for ev in _export_events(doc):
        check.add(ev)
        if check.v.events % VERIFY_EVERY == 0:
            if cancel.cancelled:
                yield VerifyProgress("cancelled")
                return
            yield VerifyProgress("chain", check.v.events, total)
    v = check.finish(expect_head=head_doc.get("hash"), expect_seq=head_doc.get("seq"))
    if head_doc and v.head_seq != head_doc.get("seq"):
        named = head_doc.get("seq")
        ends = v.head_seq or 0  # first bad: the first event missing, or beyond the head
        v.fail(min(ends, named) + 1 if isinstance(named, int) else ends + 1,
               f"the file names event {named} as its head but ends at event {v.head_seq}")
    yield VerifyProgress("finished", total, total, v)


def verify_export(path: Path) -> Verification:
    """`verify_export_steps` run to its end."""
    v = run_to_end(verify_export_steps(path))
    assert v is not None  # nothing cancels it
    return v


def read_expected_head(value: str) -> tuple[str, int | None]:
    """A head given on the command line: a hash, or an exported audit-log.json."""
    p = Path(value)
    if len(value) != 64 and p.exists():
        head_doc = json.loads(p.read_text(encoding="utf-8")).get("head") or {}
        return str(head_doc.get("hash", "")), head_doc.get("seq")
    return value.strip().lower(), None
