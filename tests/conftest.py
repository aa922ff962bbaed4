from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FAKE_FACTORY, no_face, one_face, save_png
from pgserver import PostgresServer, PostgresUnavailable

from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _witness_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The audit log's external witness (facedesk.app.witness) writes into a folder of
    the test session, never the user's data folder or the system log; galleries built
    once per module (templates) are witnessed here."""
    saved = {k: os.environ.get(k) for k in ("FACEDESK_WITNESS_DIR", "FACEDESK_WITNESS_SYSLOG")}
    os.environ["FACEDESK_WITNESS_DIR"] = str(tmp_path_factory.mktemp("witness"))
    os.environ["FACEDESK_WITNESS_SYSLOG"] = "off"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _witness_per_test(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has a witness folder of its own: tests copy one template gallery (one
    gallery id) and change the copies in different ways."""
    monkeypatch.setenv("FACEDESK_WITNESS_DIR", str(tmp_path_factory.mktemp("witness")))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (tests/pgserver.py). Without the
    server programs the PostgreSQL tests are skipped, except under CI=true, where they
    fail: CI installs them (scripts/setup.sh dev)."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server (its superuser)."""
    return pg_server.url(pg_server.new_database())


@pytest.fixture
def fake_spec() -> EngineSpec:
    return EngineSpec(FAKE_FACTORY)


@pytest.fixture
def gallery(tmp_path: Path):
    g = Gallery.open(tmp_path / "gallery.db", create=True)
    yield g
    g.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new gallery goes, once on each backend: a file, and a fresh database on
    the session's PostgreSQL server (the store suite runs unchanged against both)."""
    if request.param == "sqlite":
        return tmp_path / "gallery.db"
    # a server gallery's encoding cache goes to the user's cache folder: the test's
    request.getfixturevalue("monkeypatch").setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store_gallery(store_location: Path | str) -> Iterator[Gallery]:
    """A new gallery on each backend (see store_location); a test module that should run
    on both says `gallery = store_gallery_fixture` (see tests/unit/test_store.py)."""
    g = Gallery.open(store_location, create=True)
    yield g
    g.close()


@pytest.fixture
def people_dir(tmp_path: Path) -> Path:
    """5 persons x 3 photos, folder per person, plus one photo with no face."""
    root = tmp_path / "people"
    for person in range(5):
        for variant in range(3):
            save_png(one_face(person, variant), root / f"person_{person}" / f"{variant}.png")
    save_png(no_face(), root / "person_4" / "blank.png")
    return root


@pytest.fixture
def imported(gallery: Gallery, people_dir: Path, fake_spec: EngineSpec) -> Gallery:
    """`gallery` with `people_dir` imported by the fake engine."""
    for _ in run_import(gallery, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
        pass
    return gallery
