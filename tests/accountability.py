"""Shared setup for the accountability tests (tests/unit/test_accounts.py, test_cases.py,
test_audit.py): a template gallery (5 persons x 3 photos imported by the fake engine, one
user of each role) built once per test module and copied for each test, so that Argon2
hashing is paid once. Users other than `admin` and `ann` have no password: tests sign
them in by their mapped OS account (`os-<id>`), a real sign-in without hashing."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fakes import FAKE_FACTORY, FakeEngine, one_face, save_png

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import Session
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.search import Probe, Searcher, SearchResult, analyze_probe, choose_face
from facedesk.domain.faces import Face
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

#: the only users with a password (each costs an Argon2id hash)
PASSWORDS = {"admin": "kettle-Orbit-9731", "ann": "velvet-Harbor-4402"}
#: user id -> role; every user is mapped to the OS account "os-<id>"
USERS = {
    "admin": "administrator",
    "ann": "analyst",
    "abe": "analyst",
    "sam": "supervisor",
    "sue": "supervisor",
    "tia": "trainer",
}
PURPOSE = accounts.DEFAULT_PURPOSES[0]
#: distances given to the five raw candidates of `World.search` by default
DISTANCES = (0.05, 0.3, 0.45, 0.58, 0.75)


def build_template(root: Path, location: Path | str | None = None) -> Path | str:
    """A gallery file with photos and users (or, `location` a URL, a database on the
    test server); closed, so it can be copied."""
    people = root / "people"
    for person in range(5):
        for variant in range(3):
            save_png(one_face(person, variant), people / f"person_{person}" / f"{variant}.png")
    save_png(one_face(2, 7), root / "probe.png")
    path = root / "template.db" if location is None else location
    _PROBES[str(path)] = root / "probe.png"
    g = Gallery.open(path, create=True)
    for _ in run_import(g, people, engine=EngineSpec(FAKE_FACTORY),
                        options=ImportOptions(workers=1)):
        pass
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                password=PASSWORDS["admin"],
                                                os_account="os-admin")
    for uid, role in USERS.items():
        if uid != "admin":
            admin.add_user(uid, f"{uid.title()} {role.title()}", role,
                           password=PASSWORDS.get(uid), os_account=f"os-{uid}")
    if not g.is_server:
        g.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    g.close()
    return path


#: the probe photo of each template, by its location
_PROBES: dict[str, Path] = {}


def template_location(request: pytest.FixtureRequest, root: Path) -> Path | str | None:
    """Where a module's template goes for the backend its `template` fixture is
    parametrized with ("sqlite": the default file; "postgresql": a database on the test
    server)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    server = request.getfixturevalue("pg_server")
    return str(server.url(server.new_database()))


#: the backends a module's `template` fixture is parametrized with
BACKENDS = ["sqlite", "postgresql"]


def template_on_backend(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory, name: str) -> Path | str:
    """A module's template (its `template` fixture's body), on the backend of its param."""
    root = tmp_path_factory.mktemp(name)
    return build_template(root, template_location(request, root))


def copy_of(template: Path | str, tmp: Path) -> Path | str:
    """A copy of a closed template: the file copied, or a database made from the
    template's database (CREATE DATABASE ... TEMPLATE)."""
    if isinstance(template, str):
        parts = urlsplit(template)
        name = "t_" + uuid.uuid4().hex[:16]
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{parts.path.lstrip("/")}"')
        return urlunsplit(parts._replace(path=f"/{name}"))
    path = tmp / "gallery.db"
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, path)  # with its mode: private, as FaceDesk made it
    return path


@dataclass
class World:
    gallery: Gallery
    probe_path: Path

    def session(self, user_id: str) -> Session:
        return accounts.sign_in_os(self.gallery, f"os-{user_id}")

    def raw_result(self, distances: Sequence[float] | None = DISTANCES
                   ) -> tuple[Probe, Face, SearchResult]:
        """A real search of the probe (person_2) with the fake engine; with `distances`,
        the candidates' distances are replaced (in rank order) so that several fall within
        the threshold, as the fake engine's persons are all far apart."""
        eng = FakeEngine()
        probe = analyze_probe(eng, self.probe_path)
        face = choose_face(eng, probe)
        res = Searcher(self.gallery, eng.identity()).search(face.encoding, top_k=20)
        if distances is not None:
            assert len(res.candidates) >= len(distances)
            res.candidates = [dataclasses.replace(c, distance=d)
                              for c, d in zip(res.candidates, distances, strict=False)]
        return probe, face, res

    def search(self, session: Session, case: cases.Case,
               distances: Sequence[float] | None = DISTANCES, *,
               created_at: str | None = None) -> cases.CaseSearch:
        """A search recorded in `case`; `created_at` sets the clock it is recorded by (an
        old search for the retention tests, made through FaceDesk, not by raw SQL)."""
        probe, face, res = self.raw_result(distances)
        with contextlib.ExitStack() as stack:
            if created_at is not None:
                stack.enter_context(mock.patch.object(cases, "now_iso", lambda: created_at))
            return cases.record_search(session, case, probe, face, res)


def world_copy(template: Path | str, tmp: Path) -> Iterator[World]:
    """A fixture's body: a World on a copy of `template`, closed afterwards."""
    w = open_world(template, tmp)
    yield w
    w.gallery.close()


def open_world(template: Path | str, tmp: Path) -> World:
    return World(Gallery.open(copy_of(template, tmp)), _PROBES[str(template)])


# --- audit helpers ---------------------------------------------------------------------------


def audit_count(g: Gallery) -> int:
    return int(g.conn.execute("SELECT count(*) FROM audit").fetchone()[0])


def last_event(g: Gallery) -> audit.Event:
    ev = audit.head(g)
    assert ev is not None
    return ev


def tamper(g: Gallery, *statements: str | tuple[str, tuple[object, ...]],
           keep_triggers_off: bool = False) -> None:
    """Run raw SQL on the audit table the way someone with the file would: drop the
    append-only triggers, change the rows, and (unless told) put the triggers back, so
    that only the chain can show what happened. On a server: as its superuser, with the
    triggers off for the session."""
    conn = g.conn
    if g.is_server:
        conn.execute("SET session_replication_role = replica")
        try:
            for st in statements:
                conn.execute(*st) if isinstance(st, tuple) else conn.execute(st)
        finally:
            conn.execute("SET session_replication_role = origin")
        return
    saved = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                         "AND tbl_name = 'audit'").fetchall()
    assert {n for n, _ in saved} == set(audit.TRIGGERS)
    for name, _ in saved:
        conn.execute(f"DROP TRIGGER {name}")
    for st in statements:
        if isinstance(st, tuple):
            conn.execute(st[0], st[1])
        else:
            conn.execute(st)
    if not keep_triggers_off:
        for _, sql in saved:
            conn.execute(sql)


def payload(ev: audit.Event) -> dict[str, object]:
    """An event's data without the record digests it carries (audit.RECORDS_KEY)."""
    return {k: v for k, v in ev.data.items() if k != audit.RECORDS_KEY}


def audit_rows(g: Gallery) -> list[tuple[object, ...]]:
    return g.conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
