"""Galleries for the GUI tests: photos imported by the fake engine and the users that work
in them (created with the core API), so the window can sign in and open a case."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import FakeEngine, one_face, save_png

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import Session
from facedesk.app.cases import Case
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.review import Review
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

#: as in tests/conftest.py: `from conftest import REPO` may find this module first
REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"

PASSWORDS = {"admin": "kettle-Orbit-9731", "ann": "velvet-Harbor-4402", "sam": "copper-Meadow-5518"}
USERS = {"admin": ("Ada Admin", "administrator"), "ann": ("Ann Analyst", "analyst"),
         "sam": ("Sam Supervisor", "supervisor")}
PURPOSE = accounts.DEFAULT_PURPOSES[0]

MakeGallery = Callable[..., Path]


def add_users(gallery: Gallery, *, os_user: str | None = None) -> None:
    """admin, ann (analyst) and sam (supervisor), with passwords; `os_user` is also mapped
    to the OS account these tests run as, so a window signs in as them without asking."""
    me = accounts.os_account()
    assert me, "these tests need an OS login name"
    admin = accounts.create_first_administrator(
        gallery, "admin", USERS["admin"][0], password=PASSWORDS["admin"],
        os_account=me if os_user == "admin" else None)
    for uid in ("ann", "sam"):
        name, role = USERS[uid]
        admin.add_user(uid, name, role, password=PASSWORDS[uid],
                       os_account=me if os_user == uid else None)


def show_every_candidate(gallery: Gallery) -> None:
    """The fake engine puts different persons about 1.8 apart, beyond any threshold an
    administrator may set (at most 1.0): for tests that step through several candidates,
    store a threshold of 3.0 directly, as the settings are stored (with its audit event,
    as Session.set_setting logs it, so the log still verifies)."""
    before = accounts.settings(gallery).threshold
    with gallery.write() as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:threshold', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (json.dumps(3.0),))
        audit.append(conn, gallery.gallery_id, "setting_changed",
                     {"setting": "threshold", "from": before, "to": 3.0}, user_id="admin",
                     records={"meta": ["setting:threshold"]})


@pytest.fixture
def prepare_gallery() -> Callable[..., None]:
    """prepare_gallery(gallery, os_user=None, every_candidate=False): `add_users`, and
    `show_every_candidate` when asked."""

    def prepare(gallery: Gallery, os_user: str | None = None,
                every_candidate: bool = False) -> None:
        add_users(gallery, os_user=os_user)
        if every_candidate:
            show_every_candidate(gallery)

    return prepare


@pytest.fixture
def make_gallery(tmp_path: Path, people_dir: Path, fake_spec: EngineSpec) -> MakeGallery:
    """make_gallery(os_user="ann", every_candidate=False) -> path of a gallery file with
    `people_dir` imported and the users of `add_users`."""

    def make(os_user: str | None = None, every_candidate: bool = False,
             name: str = "g.db") -> Path:
        db = tmp_path / name
        with Gallery.open(db, create=True) as g:
            for _ in run_import(g, people_dir, engine=fake_spec,
                                options=ImportOptions(workers=1)):
                pass
            add_users(g, os_user=os_user)
            if every_candidate:
                show_every_candidate(g)
        return db

    return make


@pytest.fixture
def start_case() -> Callable[..., Case]:
    """start_case(window, number) opens a case as the window's user and works in it."""

    def start(window, number: str = "2026-0001") -> Case:
        assert window.session is not None, "the window is not signed in"
        case = cases.open_case(window.session, number, PURPOSE, "test")
        assert window.set_case(case)
        return case

    return start


@dataclass
class Desk:
    """`imported` with users, every candidate shown, the analyst and supervisor signed in
    and an open case of the analyst's."""

    gallery: Gallery
    analyst: Session
    supervisor: Session
    case: Case
    probe_dir: Path

    def review(self, person: int = 2, variant: int = 99, top_k: int = 5,
               blind: bool = False) -> Review:
        """A search of one probe recorded in the case, as the window records it."""
        engine = FakeEngine()
        path = save_png(one_face(person, variant), self.probe_dir / f"probe-{variant}.png")
        probe = analyze_probe(engine, path)
        face = choose_face(engine, probe)
        result = Searcher(self.gallery, engine.identity()).search(face.encoding, top_k)
        shown = cases.record_search(self.analyst, self.case, probe, face, result)
        return Review(probe, face, shown.result, blind=blind, search_id=shown.id)


@pytest.fixture
def desk(imported: Gallery, tmp_path: Path) -> Desk:
    add_users(imported)
    show_every_candidate(imported)
    analyst = accounts.sign_in(imported, "ann", PASSWORDS["ann"])
    supervisor = accounts.sign_in(imported, "sam", PASSWORDS["sam"])
    case = cases.open_case(analyst, "2026-0100", PURPOSE, "test")
    return Desk(imported, analyst, supervisor, case, tmp_path)
