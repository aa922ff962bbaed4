"""The tampering suite: one gallery with a full case (a calibration in use, a search, a
candidate viewed, a possible lead on rank 3 confirmed by a second reviewer, a "not the
person", a lead sheet exported), copied for each kind of tampering a hostile local user
with the file could do with raw SQL. `audit verify` must fail and NAME the record or event,
both without `--head` (the external witness of the head, facedesk.app.witness, which the
suite copies along with the gallery) and with `--head` alone (no witness).

Every kind of issue 14's finding 3, and the kinds that already worked (edit, delete,
reorder, truncate, dropped trigger)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from accountability import PURPOSE, build_template, open_world
from click.testing import CliRunner

from facedesk.app import audit, calibration, cases, lead_sheet, witness
from facedesk.cli import cli
from facedesk.domain import rates
from facedesk.domain.rates import Calibration
from facedesk.store import Gallery

LEAD_RANK = 3


@dataclass(frozen=True)
class Template:
    path: Path
    witness: Path  # the witness file the template's changes were appended to
    head_seq: int
    head_hash: str
    ids: dict[str, int]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("tampering")
    path = build_template(root)
    w = open_world(path, root / "work")
    g = w.gallery
    admin, ann, sam = w.session("admin"), w.session("ann"), w.session("sam")
    eng = g.engine_identity(g.engine_ids()[0]) or {}
    bins = len(np.arange(0, 1.6, rates.BIN_WIDTH))
    cal = Calibration("a measured reference", eng, np.full(bins, 100, dtype=np.int64),
                      np.full(bins, 10, dtype=np.int64))
    cal_id = calibration.store(g, cal, "reference", session=admin)
    case = cases.open_case(ann, "2026-0077", PURPOSE, "burglary")
    cs = w.search(ann, case)
    cases.candidate_viewed(ann, cs.id, LEAD_RANK)
    lead = cases.decide(ann, cs.id, LEAD_RANK, "possible_lead", "same ear shape")
    other = cases.decide(ann, cs.id, 1, "not_the_person", "different nose")
    review = cases.review_lead(sam, lead.id, "confirmed", "agree: ears and scar")
    lead_sheet.export_lead_sheet(ann, lead.id, root / "sheets")
    w.session("abe")
    w.session("sue")
    head = audit.head(g)
    assert head is not None
    face_of_lead = int(lead.face_id)
    ids = {"search": cs.id, "lead": lead.id, "other": other.id,
           "review": review.review.id, "case": case.id, "calibration": cal_id,
           "lead_face": face_of_lead,
           "other_face": int(g.conn.execute("SELECT min(id) FROM faces WHERE person_pk != "
                                            "(SELECT person_pk FROM faces WHERE id = ?)",
                                            (face_of_lead,)).fetchone()[0]),
           "viewed_seq": audit.events(g, kinds=["candidate_viewed"])[0].seq}
    assert audit.verify(g).ok
    witnessed = witness.witness_path(g.gallery_id)
    g.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    g.close()
    shutil.copyfile(root / "work" / "gallery.db", path)
    keep = root / "witness.log"
    shutil.copyfile(witnessed, keep)
    return Template(path, keep, head.seq, head.hash, ids)


@dataclass
class Copy:
    path: Path
    conn: sqlite3.Connection  # the attacker's: raw SQL, no FaceDesk
    ids: dict[str, int]

    def one(self, sql: str, *args: object) -> object:
        return self.conn.execute(sql, args).fetchone()[0]

    def candidates(self, edit: Callable[[list[dict[str, object]]], None]) -> None:
        cands = json.loads(str(self.one("SELECT candidates FROM searches WHERE id = ?",
                                        self.ids["search"])))
        edit(cands)
        self.conn.execute("UPDATE searches SET candidates = ? WHERE id = ?",
                          (json.dumps(cands), self.ids["search"]))

    def audit_sql(self, *statements: tuple[str, tuple[object, ...]]) -> None:
        """Raw SQL on the audit table, its triggers dropped and put back."""
        saved = self.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = "
                                  "'trigger' AND tbl_name = 'audit'").fetchall()
        for name, _ in saved:
            self.conn.execute(f"DROP TRIGGER {name}")
        for sql, args in statements:
            self.conn.execute(sql, args)
        for _, sql in saved:
            self.conn.execute(sql)

    def recompute_from(self, seq: int, gallery_id: str) -> None:
        """Recompute every hash from `seq` on: a chain consistent again after an edit."""
        rows = self.conn.execute("SELECT seq, at, user_id, kind, case_id, data, prev_hash "
                                 "FROM audit WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
        prev = self.one("SELECT hash FROM audit WHERE seq = ?", seq - 1) if seq > 1 else \
            audit.genesis_hash(gallery_id)
        updates = []
        for s, at, uid, kind, cid, data, _ in rows:
            h = audit.event_hash(str(prev), s, at, uid, kind, cid, json.loads(data))
            updates.append(("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                            (prev, h, s)))
            prev = h
        self.audit_sql(*updates)


def _swap_encoding(c: Copy) -> None:
    """The innocent person's face gets the lead's encoding: they now tie."""
    enc = c.one("SELECT encoding FROM faces WHERE id = ?", c.ids["lead_face"])
    c.conn.execute("UPDATE faces SET encoding = ? WHERE id = ?", (enc, c.ids["other_face"]))


def _swap_crop(c: Copy) -> None:
    crop = c.one("SELECT crop FROM faces WHERE id = ?", c.ids["other_face"])
    c.conn.execute("UPDATE faces SET crop = ? WHERE id = ?", (crop, c.ids["lead_face"]))


def _fake_calibration(c: Copy) -> None:
    row = c.conn.execute("SELECT created_at, kind, engine_id, source, impostor_pairs, "
                         "genuine_pairs, data FROM calibrations").fetchone()
    doc = json.loads(row[6])
    doc["impostor_counts"] = [0] * len(doc["impostor_counts"])  # FMR 0 everywhere
    cur = c.conn.execute("INSERT INTO calibrations(created_at, kind, engine_id, source, "
                         "impostor_pairs, genuine_pairs, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (*row[:6], json.dumps(doc)))
    c.conn.execute("UPDATE meta SET value = ? WHERE key = 'calibration_id'",
                   (str(cur.lastrowid),))


def _drop_key_and_distance(c: Copy) -> None:
    def edit(cands: list[dict[str, object]]) -> None:
        for cand in cands:
            del cand["face_id"]
        cands[LEAD_RANK - 1]["distance"] = 0.01

    c.candidates(edit)


def _set_in_candidate(key: str, value: object) -> Callable[[Copy], None]:
    def run(c: Copy) -> None:
        c.candidates(lambda cands: cands[LEAD_RANK - 1].__setitem__(key, value))
    return run


def _sql(sql: str, *keys: str) -> Callable[[Copy], None]:
    """An UPDATE/INSERT/DELETE whose ? are the template's ids named by `keys`."""
    return lambda c: c.conn.execute(sql, tuple(c.ids[k] for k in keys))


def _reorder(c: Copy) -> None:
    v = c.ids["viewed_seq"]
    c.audit_sql(("UPDATE audit SET seq = -1 WHERE seq = ?", (v,)),
                ("UPDATE audit SET seq = ? WHERE seq = ?", (v, v + 1)),
                ("UPDATE audit SET seq = ? WHERE seq = -1", (v + 1,)))


def _recomputed(c: Copy) -> None:
    """An event with no stored record (the candidate viewed) edited, and every hash
    after it recomputed: the chain holds again."""
    v = c.ids["viewed_seq"]
    data = json.loads(str(c.one("SELECT data FROM audit WHERE seq = ?", v)))
    data["rank"] = 1
    c.audit_sql(("UPDATE audit SET data = ? WHERE seq = ?", (audit.canonical(data), v)))
    c.recompute_from(v, str(c.one("SELECT value FROM meta WHERE key = 'gallery_id'")))


def _add_face(c: Copy) -> None:
    cols = [r[1] for r in c.conn.execute("PRAGMA table_info(faces)")]
    row = c.conn.execute("SELECT * FROM faces WHERE id = ?", (c.ids["lead_face"],)).fetchone()
    photo = c.conn.execute("INSERT INTO photos(sha256, person_pk, path, size_bytes, width, "
                           "height, format, faces_found, added_at) SELECT 'f' || sha256, "
                           "person_pk, path || '.copy', size_bytes, width, height, format, 1, "
                           "added_at FROM photos WHERE id = ?", (row[1],)).lastrowid
    values = dict(zip(cols, row, strict=True))
    values.update(id=None, photo_id=photo)
    c.conn.execute(f"INSERT INTO faces({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                   tuple(values.values()))


#: kind -> (tampering, fragments every verification must name; one of the alternatives
#: separated by " | " when the witness and the head word it differently)
KINDS: dict[str, tuple[Callable[[Copy], None], tuple[str, ...]]] = {
    # users: every column
    "password hash": (lambda c: c.conn.execute(
        "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE id = "
        "'admin') WHERE id = 'ann'"), ("user ann differs from what audit event",)),
    "OS mapping": (lambda c: c.conn.execute(
        "UPDATE users SET os_account = 'mallory' WHERE id = 'sam'"),
        ("user sam differs from what audit event",)),
    "display name": (lambda c: c.conn.execute(
        "UPDATE users SET display_name = 'Sue Supervisor' WHERE id = 'abe'"),
        ("user abe differs",)),
    # the stored search: the whole candidate list, its quality, user and probe
    "candidate FMR": (_set_in_candidate("fmr", {"fmr": 0.0}), ("search {search} differs",)),
    "candidate similarity": (_set_in_candidate("similarity", 0.99),
                             ("search {search} differs",)),
    "candidate name": (_set_in_candidate("name", "Someone Else"),
                       ("search {search} differs",)),
    "candidate look-alikes": (_set_in_candidate("expected_lookalikes", 0.0),
                              ("search {search} differs",)),
    "a key removed from every candidate, a distance changed": (
        _drop_key_and_distance,
        ("search {search} differs", "search {search}: its candidate list cannot be checked")),
    "quality warnings deleted": (_sql(
        "UPDATE searches SET quality = json_set(quality, '$.warnings', json('[]')) "
        "WHERE id = ?", "search"), ("search {search} differs",)),
    "search's user changed": (_sql("UPDATE searches SET user_id = 'abe' WHERE id = ?",
                                   "search"), ("search {search} differs",)),
    "look-alike curve lowered": (_sql(
        "UPDATE searches SET lookalikes = json_set(lookalikes, '$.expected[0]', 0) "
        "WHERE id = ?", "search"), ("search {search} differs",)),
    "probe image set to NULL": (_sql("UPDATE searches SET probe_image = NULL WHERE id = ?",
                                     "search"), ("search {search} differs",)),
    # calibrations: every row and the one in use
    "a fake calibration put in use": (_fake_calibration, (
        "calibration {calibration_new} was not written through FaceDesk",
        "setting calibration_id differs")),
    # the gallery's content
    "encoding swapped": (_swap_encoding, ("face {other_face} differs from what audit event",)),
    "crop swapped": (_swap_crop, ("face {lead_face} differs from what audit event",)),
    "person renamed": (lambda c: c.conn.execute(
        "UPDATE persons SET name = 'Innocent' WHERE id = (SELECT person_pk FROM faces "
        f"WHERE id = {c.ids['lead_face']})"), ("person ",)),
    "face deleted": (_sql("DELETE FROM faces WHERE id = ?", "other_face"),
                     ("face {other_face}, recorded by audit event",
                      "is missing from the gallery")),
    "face added": (_add_face, ("face {face_new} was not written through FaceDesk",)),
    # cases, decisions, reviews, settings
    "case purpose": (_sql("UPDATE cases SET purpose = 'Other' WHERE id = ?", "case"),
                     ("case {case} differs",)),
    "case opener": (_sql("UPDATE cases SET opened_by = 'abe' WHERE id = ?", "case"),
                    ("case {case} differs",)),
    "decision similarity": (_sql("UPDATE decisions SET similarity = 0.99 WHERE id = ?",
                                 "lead"), ("decision {lead} differs",)),
    "decision time": (_sql("UPDATE decisions SET created_at = '2020-01-01T00:00:00+00:00' "
                           "WHERE id = ?", "other"), ("decision {other} differs",)),
    "second review deleted": (_sql("DELETE FROM lead_reviews WHERE id = ?", "review"),
                              ("second review {review}, recorded by audit event",)),
    "setting changed": (lambda c: c.conn.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('setting:two_person_rule', 'false')"),
        ("setting setting:two_person_rule",)),
    # the schema
    "an extra trigger dropping refused sign-ins": (lambda c: c.conn.execute(
        "CREATE TRIGGER keep_quiet BEFORE INSERT ON audit WHEN NEW.kind = 'sign_in_failed' "
        "BEGIN SELECT RAISE(IGNORE); END"),
        ("the trigger keep_quiet on audit was not created by FaceDesk",)),
    "an extra view": (lambda c: c.conn.execute("CREATE VIEW leads AS SELECT * FROM decisions"),
                      ("the view leads was not created by FaceDesk",)),
    "an index altered": (lambda c: c.conn.executescript(
        "DROP INDEX searches_case; CREATE INDEX searches_case ON searches(user_id);"),
        ("the index searches_case on searches is not as FaceDesk created it",)),
    "append-only trigger dropped": (lambda c: c.conn.execute("DROP TRIGGER audit_no_delete"),
                                    ("audit_no_delete that keeps the log append-only has "
                                     "been removed",)),
    # the log itself
    "an event edited": (lambda c: c.audit_sql((
        "UPDATE audit SET at = '2020-01-01T00:00:00.000+00:00' WHERE seq = ?",
        (c.ids["viewed_seq"],))), ("event {viewed_seq} (candidate_viewed",
                                   "does not match its hash")),
    "an event deleted": (lambda c: c.audit_sql(("DELETE FROM audit WHERE seq = ?",
                                                (c.ids["viewed_seq"],))),
                         ("event {viewed_seq} missing",)),
    "two events reordered": (_reorder, ("previous-event hash",)),
    "the tail truncated": (lambda c: c.audit_sql((
        "DELETE FROM audit WHERE seq > (SELECT max(seq) - 2 FROM audit)", ())),
        ("truncated",)),
    "an event edited and the chain recomputed": (_recomputed, (
        "event {viewed_seq} is not the event the witness | the log was truncated or "
        "rewritten",)),
}


def _open_copy(template: Template, tmp_path: Path) -> Copy:
    path = tmp_path / "gallery.db"
    shutil.copyfile(template.path, path)
    with Gallery.open(path) as g:  # the witness of this gallery, as it was left
        dest = witness.witness_path(g.gallery_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template.witness, dest)
    conn = sqlite3.connect(path, isolation_level=None)
    return Copy(path, conn, dict(template.ids))


def _fragments(c: Copy, wanted: tuple[str, ...]) -> list[list[str]]:
    ids = dict(c.ids)
    ids["calibration_new"] = int(str(c.one("SELECT max(id) FROM calibrations")))
    ids["face_new"] = int(str(c.one("SELECT max(id) FROM faces")))
    return [[alt.strip().format(**ids) for alt in f.split(" | ")] for f in wanted]


@pytest.mark.parametrize("kind", list(KINDS))
def test_tampering_is_found_and_named_with_and_without_a_kept_head(
        template: Template, tmp_path: Path, kind: str) -> None:
    c = _open_copy(template, tmp_path)
    with Gallery.open(c.path) as g:
        assert audit.verify(g).ok  # the copy and its witness agree before
    tampering, wanted = KINDS[kind]
    try:
        tampering(c)
    finally:
        c.conn.close()
    fragments = _fragments(Copy(c.path, sqlite3.connect(c.path), c.ids), wanted)
    with Gallery.open(c.path) as g:
        by_witness = audit.verify(g)
        by_head = audit.verify(g, expect_head=template.head_hash,
                               expect_seq=template.head_seq, use_witness=False)
    for name, v in (("witness, no --head", by_witness), ("--head, no witness", by_head)):
        assert not v.ok, (name, kind)
        text = "\n".join(v.problems)
        for alternatives in fragments:
            assert any(a in text for a in alternatives), (name, alternatives, v.problems)


def test_the_command_line_names_it_without_head_and_with_it(
        template: Template, tmp_path: Path) -> None:
    """`facedesk audit verify` as a user runs it: exit 1 naming the face, by itself."""
    c = _open_copy(template, tmp_path)
    _swap_encoding(c)
    c.conn.close()
    runner = CliRunner()
    for extra in ([], ["--head", template.head_hash]):
        res = runner.invoke(cli, ["audit", "verify", "--db", str(c.path), *extra])
        assert res.exit_code == 1, res.output
        assert f"face {template.ids['other_face']} differs from what audit event" in res.output


def test_a_truncated_tail_is_caught_by_the_witness_alone(template: Template,
                                                         tmp_path: Path) -> None:
    """Without the witness and without --head, a cut tail of events that stand for no
    record leaves no trace: the witness is what catches it."""
    c = _open_copy(template, tmp_path)
    KINDS["the tail truncated"][0](c)
    c.conn.close()
    with Gallery.open(c.path) as g:
        assert audit.verify(g, use_witness=False).ok
        v = audit.verify(g)
    assert not v.ok and v.first_bad == template.head_seq - 1
    assert f"saw event {template.head_seq}" in v.problems[0]
