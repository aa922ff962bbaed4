from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FAKE_FACTORY, no_face, one_face, save_png

from facedesk.core.engines import EngineSpec
from facedesk.core.importer import ImportOptions, run_import
from facedesk.store import Gallery

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def fake_spec() -> EngineSpec:
    return EngineSpec(FAKE_FACTORY)


@pytest.fixture
def gallery(tmp_path: Path):
    g = Gallery.open(tmp_path / "gallery.db", create=True)
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
