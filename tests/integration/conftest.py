"""Integration tests: the real dlib engine on the real photos of ../shared/data.

Every test in this folder is marked `integration` (deselect with `-m "not integration"`).
The photos are read where they lie (never copied into the repository); when the data
folder or the face engine is missing, the tests are skipped with the reason — except under
CI=true, where a missing data folder or dlib FAILS them: a CI run that silently skipped
every real-engine test would report green having tested nothing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from prerequisites import missing

from facedesk.app.importer import ImportOptions, ImportProgress, run_import
from facedesk.domain.analysis import DetectOptions
from facedesk.engine.spec import EngineSpec
from facedesk.errors import EngineUnavailable
from facedesk.store import Gallery

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: the shared data folder beside the repository; FACEDESK_TEST_DATA may point elsewhere
SHARED_DATA = Path(os.environ.get("FACEDESK_TEST_DATA") or (REPO.parent / "shared" / "data"))

#: persons in the LFW search gallery (first ones alphabetically with >= 2 photos) ...
LFW_PERSONS = 29
#: ... plus this well-known case, who has hundreds of photos
LFW_WELL_KNOWN = "George_W_Bush"
#: photos per person used: all but the last go into the gallery, the last is the probe
LFW_PHOTOS_PER_PERSON = 4


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


# --- data and engine ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        missing(f"integration data not found at {SHARED_DATA} (expected ../shared/data "
                "beside the repository, or set FACEDESK_TEST_DATA)")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def lfw_images(shared_data: Path) -> Path:
    root = shared_data / "lfw" / "images"
    if not root.is_dir():
        missing(f"LFW images not found at {root}")
    return root


@pytest.fixture(scope="session")
def real_engine_spec() -> EngineSpec:
    """The real engine; skips when dlib or the model files are not installed."""
    spec = EngineSpec()
    try:
        spec.create().identity()
    except EngineUnavailable as exc:
        missing(f"real face engine unavailable: {exc}")
    return spec


@pytest.fixture(scope="session")
def real_engine(real_engine_spec: EngineSpec):  # -> DlibEngine (models load lazily)
    return real_engine_spec.create()


def lfw_photos(lfw_images: Path, person: str) -> list[Path]:
    return sorted(p for p in (lfw_images / person).iterdir() if p.suffix.lower() == ".jpg")


def import_all(gallery: Gallery, source: Path | None, *, manifest: Path | None = None,
               workers: int = 1, spec: EngineSpec | None = None,
               detect: DetectOptions | None = None) -> ImportProgress:
    """Run an import to its end and return the 'finished' event."""
    options = ImportOptions(workers=workers, detect=detect or DetectOptions())
    events = list(run_import(gallery, source, manifest=manifest, options=options,
                             engine=spec or EngineSpec()))
    final = events[-1]
    assert final.phase == "finished", events[-3:]
    return final


# --- the LFW search gallery (built once per session, never written to by tests) ---------


@dataclass(frozen=True)
class LfwGallery:
    db: Path
    persons: list[str]
    gallery_photos: dict[str, list[Path]]  # person -> photos imported
    probes: dict[str, Path]  # person -> held-out photo (not in the gallery)
    final: ImportProgress


@pytest.fixture(scope="session")
def lfw_gallery(lfw_images: Path, real_engine_spec: EngineSpec,
                tmp_path_factory: pytest.TempPathFactory) -> LfwGallery:
    """30 LFW persons with >= 2 photos each, all photos but one per person imported
    through a CSV manifest whose paths are relative to the LFW folder."""
    chosen: list[str] = []
    for d in sorted(lfw_images.iterdir()):
        if len(chosen) >= LFW_PERSONS:
            break
        if d.is_dir() and d.name != LFW_WELL_KNOWN and len(lfw_photos(lfw_images, d.name)) >= 2:
            chosen.append(d.name)
    if not (lfw_images / LFW_WELL_KNOWN).is_dir():
        missing(f"{LFW_WELL_KNOWN} missing from {lfw_images}")
    chosen.append(LFW_WELL_KNOWN)

    gallery_photos: dict[str, list[Path]] = {}
    probes: dict[str, Path] = {}
    for person in chosen:
        photos = lfw_photos(lfw_images, person)[:LFW_PHOTOS_PER_PERSON]
        gallery_photos[person], probes[person] = photos[:-1], photos[-1]

    folder = tmp_path_factory.mktemp("lfw_gallery")
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "person_id", "name"])
        for person in chosen:
            for p in gallery_photos[person]:
                w.writerow([p.relative_to(lfw_images).as_posix(), person,
                            person.replace("_", " ")])
    db = folder / "gallery.db"
    with Gallery.open(db, create=True) as g:
        final = import_all(g, lfw_images, manifest=manifest, workers=1, spec=real_engine_spec)
    return LfwGallery(db=db, persons=chosen, gallery_photos=gallery_photos, probes=probes,
                      final=final)


# --- a copy of the LFW gallery, ready for searches in a case ------------------------------


@dataclass(frozen=True)
class CaseGallery:
    db: Path
    case: str
    probes: dict[str, Path]


@pytest.fixture
def case_gallery(lfw_gallery: LfwGallery, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> CaseGallery:
    """A copy of the LFW gallery where `facedesk search` can run: an administrator, the
    analyst `ann` (signed in through FACEDESK_USER and FACEDESK_PASSWORD, set for the
    test's in-process and real-process commands), the open case CASE-1, and threshold 1.0
    with top_k 10 (the ten closest persons are shown, however far)."""
    from facedesk.app import accounts, cases

    db = tmp_path / "case_gallery.db"
    shutil.copy(lfw_gallery.db, db)  # with its mode: private, as made
    with Gallery.open(db) as g:
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password="quartz-Lantern-6150")
        admin.set_setting("threshold", 1.0)
        admin.set_setting("top_k", 10)
        admin.add_user("ann", "Ann Analyst", "analyst", password="harbor-Violet-7731")
        cases.open_case(accounts.sign_in(g, "ann", "harbor-Violet-7731"), "CASE-1",
                        accounts.DEFAULT_PURPOSES[0])
    monkeypatch.setenv("FACEDESK_USER", "ann")
    monkeypatch.setenv("FACEDESK_PASSWORD", "harbor-Violet-7731")
    return CaseGallery(db=db, case="CASE-1", probes=lfw_gallery.probes)


# --- the command line as a real process ---------------------------------------------------


def facedesk_command() -> list[str]:
    exe = Path(sys.executable).parent / "facedesk"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "facedesk"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def facedesk_cmd() -> tuple[list[str], dict[str, str]]:
    """(the command that starts `facedesk`, its environment), for subprocess.Popen."""
    return facedesk_command(), cli_env()


@pytest.fixture(scope="session")
def run_facedesk() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `facedesk ARGS...` as a real process; returns the completed process."""

    def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*facedesk_command(), *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, env=cli_env())

    return run


@pytest.fixture
def symlink_tree(tmp_path: Path) -> Callable[..., Path]:
    """`build({person: [photo, ...]}, name="photos")`: a folder-per-person tree of symlinks
    to the photos under tmp_path (no photo is copied)."""

    def build(photos: dict[str, list[Path]], name: str = "photos") -> Path:
        root = tmp_path / name
        for person, files in photos.items():
            (root / person).mkdir(parents=True, exist_ok=True)
            for f in files:
                (root / person / f.name).symlink_to(f)
        return root

    return build


@pytest.fixture(scope="session")
def import_to_end() -> Callable[..., ImportProgress]:
    """`import_to_end(gallery, source, manifest=None, workers=1, spec=None)` runs an
    import to its end and returns the 'finished' event."""
    return import_all


@pytest.fixture(scope="session")
def photos_of(lfw_images: Path) -> Callable[[str], list[Path]]:
    """`photos_of(person)`: that LFW person's photos, sorted."""
    return lambda person: lfw_photos(lfw_images, person)
