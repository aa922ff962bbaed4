"""The hash-chained audit log (facedesk.app.audit): an untouched log verifies, and every
kind of tampering with the gallery file is found and placed at the right event."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from accountability import (
    PURPOSE,
    World,
    audit_count,
    audit_rows,
    build_template,
    last_event,
    open_world,
    tamper,
)

from facedesk.app import audit, cases
from facedesk.domain.progress import CancelToken
from facedesk.store import Gallery


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The accountability template with a confirmed lead and a few more events, the last
    three of which (sign-ins, a candidate viewed) describe no stored record."""
    root = tmp_path_factory.mktemp("audit")
    path = build_template(root)
    w = open_world(path, root / "work")
    ann, sam = w.session("ann"), w.session("sam")
    case = cases.open_case(ann, "2026-0042", PURPOSE, "robbery")
    cs = w.search(ann, case)
    cases.candidate_viewed(ann, cs.id, 1)
    lead = cases.decide(ann, cs.id, 1, "possible_lead", "same ear shape")
    cases.decide(ann, cs.id, 2, "not_the_person", "different nose")
    cases.review_lead(sam, lead.id, "confirmed", "agree: ears and scar")
    cases.candidate_viewed(sam, cs.id, 2)
    w.session("abe")
    w.session("sue")
    w.gallery.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    w.gallery.close()
    shutil.copy(root / "work" / "gallery.db", path)
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path):
    w = open_world(template, tmp_path)
    yield w
    w.gallery.close()


def seq_of(g: Gallery, kind: str, n: int = 0) -> int:
    return audit.events(g, kinds=[kind])[n].seq


# --- an untouched log ------------------------------------------------------------------------


def test_an_untouched_log_verifies(world: World) -> None:
    g = world.gallery
    v = audit.verify(g)
    head = last_event(g)
    assert v.ok, v.summary()
    assert (v.events, v.head_seq, v.head_hash, v.first_bad) == \
        (audit_count(g), head.seq, head.hash, None)
    assert [e.seq for e in audit.events(g)] == list(range(1, head.seq + 1))
    assert audit.events(g)[0].prev_hash == audit.genesis_hash(g.gallery_id)
    assert {"import", "user_added", "sign_in", "case_opened", "search", "candidate_viewed",
            "decision", "lead_review"} <= {e.kind for e in audit.events(g)}
    assert "intact" in v.summary() and v.as_dict()["ok"] is True
    # the recorded head is still there after more events
    audit.record(g, "sign_in", {"user": "ann", "role": "analyst", "how": "test"})
    assert audit.verify(g, expect_head=head.hash, expect_seq=head.seq).ok


def test_append_needs_a_transaction_and_a_known_kind(world: World) -> None:
    g = world.gallery
    with pytest.raises(RuntimeError):
        audit.append(g.conn, g.gallery_id, "sign_in", {})
    with pytest.raises(ValueError), g.write() as conn:
        audit.append(conn, g.gallery_id, "coffee_break", {})
    assert audit.verify(g).ok


# --- tampering -------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [
    ("data", '{"rank":1,"search_id":1,"person_id":"person_0","face_id":1}'),
    ("at", "2020-01-01T00:00:00.000+00:00"),
    ("user_id", "abe"),
    ("kind", "sign_in"),
    ("case_id", None),
])
def test_an_edited_event_is_found(world: World, column: str, value: object) -> None:
    g = world.gallery
    seq = seq_of(g, "candidate_viewed")
    tamper(g, (f"UPDATE audit SET {column} = ? WHERE seq = ?", (value, seq)))
    v = audit.verify(g)
    assert not v.ok
    assert v.first_bad == seq
    assert any(f"event {seq} " in p and "edited" in p for p in v.problems), v.problems


def test_an_edited_record_event_is_found(world: World) -> None:
    """Editing a decision's event (not the record): the chain and the record check both
    name it."""
    g = world.gallery
    seq = seq_of(g, "decision")
    data = json.loads(g.conn.execute("SELECT data FROM audit WHERE seq = ?",
                                     (seq,)).fetchone()[0])
    data["rationale"] = "a different rationale"
    tamper(g, ("UPDATE audit SET data = ? WHERE seq = ?", (audit.canonical(data), seq)))
    v = audit.verify(g)
    assert v.first_bad == seq
    assert len(v.problems) == 2  # the hash, and the record differs from the event


def test_a_deleted_event_is_found(world: World) -> None:
    g = world.gallery
    seq = seq_of(g, "candidate_viewed")
    tamper(g, ("DELETE FROM audit WHERE seq = ?", (seq,)))
    v = audit.verify(g)
    assert not v.ok and v.first_bad == seq
    assert any(f"event {seq} missing" in p for p in v.problems), v.problems


def test_a_deleted_first_event_is_found(world: World) -> None:
    g = world.gallery
    tamper(g, "DELETE FROM audit WHERE seq = 1")
    v = audit.verify(g)
    assert not v.ok and v.first_bad == 1


@pytest.mark.parametrize("gap", [1, 4])
def test_reordered_events_are_found(world: World, gap: int) -> None:
    g = world.gallery
    a = seq_of(g, "candidate_viewed")
    b = a + gap
    tamper(g, ("UPDATE audit SET seq = -1 WHERE seq = ?", (a,)),
           ("UPDATE audit SET seq = ? WHERE seq = ?", (a, b)),
           ("UPDATE audit SET seq = ? WHERE seq = -1", (b,)))
    assert audit_count(g) == last_event(g).seq  # nothing missing, only the order changed
    v = audit.verify(g)
    assert not v.ok and v.first_bad == a, v.summary()


def test_a_reordered_log_keeping_each_events_seq_is_found(world: World) -> None:
    """Swapping two events' contents but not their seq and hashes."""
    g = world.gallery
    a, b = seq_of(g, "sign_in", 1), seq_of(g, "sign_in", 2)
    row_a = g.conn.execute("SELECT at, user_id, data FROM audit WHERE seq = ?", (a,)).fetchone()
    row_b = g.conn.execute("SELECT at, user_id, data FROM audit WHERE seq = ?", (b,)).fetchone()
    tamper(g, ("UPDATE audit SET at = ?, user_id = ?, data = ? WHERE seq = ?", (*row_b, a)),
           ("UPDATE audit SET at = ?, user_id = ?, data = ? WHERE seq = ?", (*row_a, b)))
    v = audit.verify(g)
    assert not v.ok and v.first_bad == min(a, b)


def test_a_truncated_tail_is_found_given_the_recorded_head(world: World) -> None:
    g = world.gallery
    old = last_event(g)
    tamper(g, ("DELETE FROM audit WHERE seq >= ?", (old.seq - 1,)))
    assert last_event(g).seq == old.seq - 2
    # the remaining log is a valid chain: verify alone cannot see the lost tail
    assert audit.verify(g).ok
    v = audit.verify(g, expect_head=old.hash, expect_seq=old.seq)
    assert not v.ok
    assert v.first_bad == old.seq - 1  # the first missing event
    assert any("truncated" in p for p in v.problems), v.problems
    # the head hash alone (no seq) is enough too
    v = audit.verify(g, expect_head=old.hash)
    assert not v.ok and v.first_bad == old.seq - 1


def test_a_recomputed_chain_is_found_given_the_recorded_head(world: World) -> None:
    """Someone who knows the algorithm edits an event and recomputes every hash after it:
    the chain is consistent again, but the head recorded earlier is no longer in it."""
    g = world.gallery
    old = last_event(g)
    seq = seq_of(g, "candidate_viewed", 1)
    evs = audit.events(g)
    prev = evs[seq - 2].hash
    statements: list[str | tuple[str, tuple[object, ...]]] = []
    for e in evs[seq - 1:]:
        data = dict(e.data)
        if e.seq == seq:
            data["rank"] = 1
        digest = audit.event_hash(prev, e.seq, e.at, e.user_id, e.kind, e.case_id, data)
        statements.append(("UPDATE audit SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                           (audit.canonical(data), prev, digest, e.seq)))
        prev = digest
    tamper(g, *statements)
    assert audit.verify(g).ok  # undetectable without a recorded head ...
    v = audit.verify(g, expect_head=old.hash, expect_seq=old.seq)
    assert not v.ok and v.first_bad == old.seq  # ... and found with it


def test_the_triggers_refuse_update_and_delete(world: World) -> None:
    g = world.gallery
    before = audit_rows(g)
    for sql in ("UPDATE audit SET data = '{}' WHERE seq = 3",
                "UPDATE audit SET seq = seq + 100",
                "UPDATE audit SET hash = hash",
                "DELETE FROM audit WHERE seq = 3",
                f"DELETE FROM audit WHERE seq > {len(before) - 2}",
                "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            g.conn.execute(sql)
    assert audit_rows(g) == before
    assert audit.verify(g).ok


def test_a_replaced_event_is_refused_and_found_without_the_trigger(world: World) -> None:
    """INSERT OR REPLACE would remove the old row without firing the delete trigger
    (unless recursive triggers are on, as on the gallery's own connection but not on a
    plain sqlite3 connection like the shell's): the insert trigger refuses any event that
    is not the next one, and with that trigger dropped the chain still shows it."""
    g = world.gallery
    seq = seq_of(g, "candidate_viewed")
    row = list(g.conn.execute("SELECT * FROM audit WHERE seq = ?", (seq,)).fetchone())
    row[5] = row[5].replace('"rank":1', '"rank":3')
    replace = "INSERT OR REPLACE INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    before = audit_rows(g)
    plain = sqlite3.connect(str(g.path), isolation_level=None)
    try:
        for conn in (g.conn, plain):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(replace, row)
        assert audit_rows(g) == before
        plain.execute("DROP TRIGGER audit_append_only")
        plain.execute(replace, row)
    finally:
        plain.close()
    assert audit_rows(g) != before
    v = audit.verify(g)
    assert not v.ok and v.first_bad == seq
    assert any("audit_append_only" in p for p in v.problems)


@pytest.mark.parametrize("trigger", [*audit.TRIGGERS, "all"])
def test_dropped_triggers_alone_are_reported(world: World, trigger: str) -> None:
    g = world.gallery
    names = list(audit.TRIGGERS) if trigger == "all" else [trigger]
    for name in names:
        g.conn.execute(f"DROP TRIGGER {name}")
    v = audit.verify(g)
    assert not v.ok
    assert v.first_bad is None  # the chain itself is intact
    assert len(v.problems) == len(names)
    for name in names:
        assert any(name in p for p in v.problems)


@pytest.mark.parametrize(("table", "column", "value"), [
    ("decisions", "rationale", "a rationale written later"),
    ("decisions", "decision", "not_the_person"),
    ("decisions", "person_id", "person_4"),
    ("decisions", "reviewer", "abe"),
    ("lead_reviews", "verdict", "overturned"),
    ("lead_reviews", "rationale", "disagree"),
    ("lead_reviews", "reviewer", "sue"),
    ("searches", "threshold", 0.9),
    ("searches", "probe_sha256", "0" * 64),
])
def test_an_edited_record_is_found(world: World, table: str, column: str,
                                   value: object) -> None:
    g = world.gallery
    rid, seq = g.conn.execute(f"SELECT id, audit_seq FROM {table} ORDER BY id "
                              "LIMIT 1").fetchone()
    g.conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, rid))
    v = audit.verify(g)
    assert not v.ok and v.first_bad == seq
    assert f"{table[:-1].replace('_', ' ')} {rid} differs from its audit event {seq} in " \
           f"{column} (the record was edited)" in v.problems


def test_a_record_pointed_at_another_event_is_found(world: World) -> None:
    g = world.gallery
    rid = g.conn.execute("SELECT id FROM lead_reviews").fetchone()[0]
    other = seq_of(g, "candidate_viewed")
    g.conn.execute("UPDATE lead_reviews SET audit_seq = ? WHERE id = ?", (other, rid))
    v = audit.verify(g)
    assert not v.ok and v.first_bad == other
    assert "not a lead_review" in v.problems[0]


def test_a_chain_moved_to_another_gallery_is_found(world: World, tmp_path: Path) -> None:
    """A consistent chain (edited and recomputed from this gallery's genesis) copied
    into another gallery: its first event does not follow that gallery's genesis."""
    g = world.gallery
    evs = audit.events(g)
    prev = audit.genesis_hash(g.gallery_id)
    rows = []
    for e in evs:
        data = {**e.data, "how": "edited"} if e.kind == "sign_in" else e.data
        digest = audit.event_hash(prev, e.seq, e.at, e.user_id, e.kind, e.case_id, data)
        rows.append((e.seq, e.at, e.user_id, e.kind, e.case_id, audit.canonical(data), prev,
                     digest))
        prev = digest
    rebuilt = (audit.Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
               for r in rows)
    assert audit.verify_chain(rebuilt, g.gallery_id).ok  # valid where it was made

    other = Gallery.open(tmp_path / "other.db", create=True)
    try:
        assert other.gallery_id != g.gallery_id and audit_count(other) == 0
        with other.write() as conn:
            conn.executemany("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        v = audit.verify(other)
        assert not v.ok and v.first_bad == 1
        assert "previous-event hash" in v.problems[0]
    finally:
        other.close()


def test_a_changed_gallery_id_is_found(world: World) -> None:
    g = world.gallery
    g.conn.execute("UPDATE meta SET value = 'someone-else' WHERE key = 'gallery_id'")
    v = audit.verify(g)
    assert not v.ok and v.first_bad == 1


# --- export ----------------------------------------------------------------------------------


def test_export_writes_json_and_csv_ending_at_the_head(world: World, tmp_path: Path) -> None:
    g = world.gallery
    before = audit.events(g)
    out = audit.export(g, tmp_path / "out", user_id="admin")
    head = before[-1]  # the files end at the head before the export ...
    assert (out.seq, out.hash, out.events) == (head.seq, head.hash, len(before))
    export = last_event(g)  # ... and the export itself is the next event, naming them
    assert (export.kind, export.user_id, export.seq) == ("export", "admin", head.seq + 1)
    assert (export.data["head_seq"], export.data["head_hash"]) == (head.seq, head.hash)
    assert {f["name"]: f["sha256"] for f in export.data["files"]} == {
        name: hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest()
        for name in ("audit-log.json", "audit-log.csv")}

    doc = json.loads(Path(out.json).read_text(encoding="utf-8"))
    assert doc["gallery_id"] == g.gallery_id
    assert doc["head"] == {"seq": head.seq, "hash": head.hash}
    assert [e["seq"] for e in doc["events"]] == list(range(1, head.seq + 1))
    assert doc["events"] == [e.as_dict() for e in before]

    with Path(out.csv).open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["seq", "at", "user_id", "kind", "case_id", "data", "prev_hash", "hash"]
    body, footer = rows[1:-1], rows[-1]
    assert len(body) == head.seq
    assert [r[7] for r in body] == [e.hash for e in before]
    assert [json.loads(r[5]) for r in body] == [e.data for e in before]
    assert footer[0].startswith(f"# head event {head.seq} hash {head.hash}")

    v = audit.verify_export(Path(out.json))
    assert v.ok, v.summary()
    assert (v.head_seq, v.head_hash) == (head.seq, head.hash)
    assert audit.verify(g, expect_head=out.hash, expect_seq=out.seq).ok


def test_an_edited_export_fails(world: World, tmp_path: Path) -> None:
    g = world.gallery
    out = audit.export(g, tmp_path / "out", user_id="admin")
    path = Path(out.json)
    doc = json.loads(path.read_text(encoding="utf-8"))
    seq = seq_of(g, "decision")
    doc["events"][seq - 1]["data"]["rationale"] = "edited in the file"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    v = audit.verify_export(edited)
    assert not v.ok and v.first_bad == seq

    # a file cut short: the head it names is gone; the first missing event is named
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["events"] = doc["events"][:-2]
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(doc), encoding="utf-8")
    v = audit.verify_export(cut)
    assert not v.ok and v.first_bad == out.seq - 1


def test_read_expected_head(world: World, tmp_path: Path) -> None:
    g = world.gallery
    out = audit.export(g, tmp_path / "out", user_id="admin")
    assert audit.read_expected_head(out.hash) == (out.hash, None)
    assert audit.read_expected_head(f"  {out.hash.upper()}\n") == (out.hash, None)
    assert audit.read_expected_head(str(out.json)) == (out.hash, out.seq)
    h, s = audit.read_expected_head(str(out.json))
    assert audit.verify(g, expect_head=h, expect_seq=s).ok
    tamper(g, ("DELETE FROM audit WHERE seq = ?", (out.seq,)))
    v = audit.verify(g, expect_head=h, expect_seq=s)
    assert not v.ok and v.first_bad == out.seq


# --- two writers -----------------------------------------------------------------------------


def test_two_gallery_objects_keep_one_chain(world: World) -> None:
    g1 = world.gallery
    g2 = Gallery.open(g1.path)
    try:
        start = audit_count(g1)
        for i in range(20):
            g = (g1, g2)[i % 2]
            audit.record(g, "candidate_viewed", {"writer": i % 2, "i": i}, user_id="ann")
        for g in (g1, g2):
            seqs = [e.seq for e in audit.events(g)]
            assert seqs == list(range(1, start + 21))
            assert [e.data["i"] for e in audit.events(g)[start:]] == list(range(20))
            assert audit.verify(g).ok
    finally:
        g2.close()


def test_concurrent_writers_keep_one_chain(world: World) -> None:
    path = world.gallery.path
    start = audit_count(world.gallery)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Gallery.open(path) as g:
                for i in range(25):
                    audit.record(g, "candidate_viewed", {"writer": n, "i": i})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    g = world.gallery
    evs = audit.events(g)
    assert [e.seq for e in evs] == list(range(1, start + 51))
    for n in range(2):
        assert [e.data["i"] for e in evs if e.data.get("writer") == n] == list(range(25))
    v = audit.verify(g)
    assert v.ok, v.summary()


def _first(g: Gallery, sql: str) -> tuple:
    row = g.conn.execute(sql).fetchone()
    assert row is not None, sql
    return tuple(row)


@pytest.mark.parametrize("tampering", [
    "pending lead made a result", "candidate list edited", "probe image replaced",
    "second review deleted", "decision forged", "role raised", "case reopened",
    "setting changed", "trigger replaced by a no-op",
])
def test_tampering_outside_the_audit_table_is_found(world: World, tampering: str) -> None:
    """Raw SQL on the records the application reads (decisions, searches, reviews, users,
    cases, settings), the audit table untouched: verify still finds it."""
    g = world.gallery
    assert audit.verify(g).ok
    c = g.conn
    if tampering == "pending lead made a result":
        c.execute("UPDATE decisions SET second_review = 0 WHERE second_review = 1")
        expected = "second_review"
    elif tampering == "candidate list edited":
        sid, shown = _first(g, "SELECT id, candidates FROM searches ORDER BY id")
        cands = json.loads(shown)
        cands[0]["distance"] = 0.01
        c.execute("UPDATE searches SET candidates = ? WHERE id = ?", (json.dumps(cands), sid))
        expected = "candidate list differs"
    elif tampering == "probe image replaced":
        c.execute("UPDATE searches SET probe_image = ? WHERE id = "
                  "(SELECT min(id) FROM searches)", (b"another image",))
        expected = "probe image is not the one searched"
    elif tampering == "second review deleted":
        c.execute("DELETE FROM lead_reviews")
        expected = "is missing from the gallery"
    elif tampering == "decision forged":
        row = c.execute("SELECT * FROM decisions ORDER BY id LIMIT 1").fetchone()
        cols = [d[0] for d in c.execute("SELECT * FROM decisions LIMIT 0").description]
        forged = dict(zip(cols, row, strict=True))
        forged.update(id=None, audit_seq=None, rank=99)
        c.execute(f"INSERT INTO decisions({', '.join(cols)}) VALUES "
                  f"({', '.join('?' * len(cols))})", tuple(forged.values()))
        expected = "has no audit event"
    elif tampering == "role raised":
        c.execute("UPDATE users SET role = 'administrator' WHERE id = 'ann'")
        expected = "user ann: role or active state differs"
    elif tampering == "case reopened":
        c.execute("UPDATE cases SET training = 1")
        expected = "training or closed state differs"
    elif tampering == "setting changed":
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                  "('setting:two_person_rule', 'false')")
        expected = "the setting two_person_rule differs"
    else:
        c.execute("DROP TRIGGER audit_no_update")
        c.execute("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END")
        expected = "audit_no_update that keeps the log append-only has been changed"
    v = audit.verify(g)
    assert not v.ok
    assert any(expected in p for p in v.problems), v.problems


# --- long jobs: progress and cancel ----------------------------------------------------------


def test_verify_reports_progress_and_stops_when_cancelled(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    g = world.gallery
    monkeypatch.setattr(audit, "VERIFY_EVERY", 2)
    steps = list(audit.verify_steps(g))
    n = audit_count(g)
    chain = [s.done for s in steps if s.step == "chain"]
    assert chain[0] == 0 and chain[-1] == n - n % 2 and all(s.total == n for s in steps
                                                            if s.step == "chain")
    assert [s.step for s in steps if s.step != "chain"][:1] == ["schema"]
    assert steps[-1].step == "finished" and steps[-1].result is not None
    assert steps[-1].result.as_dict() == audit.verify(g).as_dict()
    cancel = CancelToken()
    seen = []
    for s in audit.verify_steps(g, cancel=cancel):
        seen.append(s)
        if s.step == "chain" and s.done >= 4:
            cancel.cancel()
    assert seen[-1].step == "cancelled" and seen[-1].result is None
    assert not any(s.step == "schema" for s in seen)
    assert audit_count(g) == n  # verification never writes


def test_a_cancelled_export_writes_no_file_and_records_nothing(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = world.gallery
    monkeypatch.setattr(audit, "VERIFY_EVERY", 2)
    before = audit_count(g)
    for stop_at in ("reading", "writing", "recording"):
        cancel = CancelToken()
        out = tmp_path / stop_at
        steps = []
        for s in audit.export_steps(g, out, user_id="admin", cancel=cancel):
            steps.append(s.step)
            if s.step == stop_at:
                cancel.cancel()
        assert steps[-1] == "cancelled", steps
        assert list(out.iterdir()) == []  # not even a .part file
        assert audit_count(g) == before
    result = audit.export(g, tmp_path / "done", user_id="admin")
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["audit-log.csv",
                                                                    "audit-log.json"]
    assert audit_count(g) == before + 1 and result.events == before


def test_verify_export_reports_progress_and_stops_when_cancelled(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = audit.export(world.gallery, tmp_path, user_id="admin")
    monkeypatch.setattr(audit, "VERIFY_EVERY", 2)
    steps = list(audit.verify_export_steps(out.json))
    assert steps[-1].step == "finished" and steps[-1].result is not None
    assert steps[-1].result.ok and steps[-2].step == "chain"
    cancel = CancelToken()
    seen = []
    for s in audit.verify_export_steps(out.json, cancel=cancel):
        seen.append(s.step)
        cancel.cancel()
    assert seen == ["chain", "cancelled"]


def test_ctrl_c_cancels_the_cli_audit_verify(world: World,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from facedesk.cli import cli

    def interrupted(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        yield audit.VerifyProgress("chain", 0, 1)
        raise KeyboardInterrupt

    monkeypatch.setattr(audit, "verify_steps", interrupted)
    result = CliRunner().invoke(cli, ["audit", "verify", "--db", str(world.gallery.path)])
    assert result.exit_code == 130 and "cancelled: nothing was written" in result.output


def test_events_appended_while_verifying_are_not_a_truncated_log(world: World) -> None:
    """Another writer (an import) appends events after verify's snapshot and before its
    witness check: the witness has seen them, the snapshot has not. The log is growing,
    not cut short; a truncated tail is still found (tests/unit/test_tampering.py)."""
    g = world.gallery
    steps = audit.verify_steps(g)
    for p in steps:
        if p.step == "witness":
            break
    with Gallery.open(g.path) as other:  # the other writer, its own connection
        audit.record(other, "sign_in", {"user": "ann", "role": "analyst", "how": "test"})
        audit.record(other, "sign_in", {"user": "sam", "role": "supervisor", "how": "test"})
    *_, last = steps
    v = last.result
    assert v is not None and v.ok, v.summary()
    assert audit.verify(g).ok
