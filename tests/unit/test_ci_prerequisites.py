"""Under CI=true the integration tests FAIL when ../shared/data is missing, instead of
skipping (a CI run that skipped every real-engine test reported green having tested
nothing); elsewhere they are skipped with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_shared_data_fails_under_ci_and_skips_elsewhere(
        tmp_path: Path, ci: str, outcome: str) -> None:
    env = {**os.environ, "CI": ci, "FACEDESK_TEST_DATA": str(tmp_path / "no-such-data"),
           "QT_QPA_PLATFORM": "offscreen"}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
         "tests/integration/test_search_lfw.py::"
         "test_gallery_holds_every_imported_photo_with_its_face"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    summary = res.stdout.strip().splitlines()[-1]
    assert outcome in summary, res.stdout[-2000:]
    if ci:
        assert res.returncode == 1
        assert "CI=true: the integration tests must run here" in res.stdout
