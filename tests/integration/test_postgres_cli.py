"""The command line on a gallery on a PostgreSQL server, with the real engine, as real
processes: the first administrator, an analyst, an import of a few LFW persons, a case, a
search that finds the probe's person first, and the audit log verified."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import lfw_photos

from facedesk.engine.spec import EngineSpec

PASSWORD = "lantern-Quarry-6613"
PERSONS = 4

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_import_search_and_verify_on_a_server(pg_url: str, lfw_images: Path,
                                              real_engine_spec: EngineSpec, tmp_path: Path,
                                              run_facedesk: Run,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    people = [d for d in sorted(lfw_images.iterdir())
              if d.is_dir() and len(lfw_photos(lfw_images, d.name)) >= 2][:PERSONS]
    source = tmp_path / "photos"
    for d in people:
        for photo in lfw_photos(lfw_images, d.name)[1:3]:  # the first one is the probe
            (source / d.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(photo, source / d.name / photo.name)
    probe = lfw_photos(lfw_images, people[1].name)[0]
    monkeypatch.setenv("FACEDESK_PASSWORD", PASSWORD)
    monkeypatch.setenv("FACEDESK_NEW_PASSWORD", PASSWORD)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def ok(*args: str | Path) -> str:
        done = run_facedesk(*args, "--db", pg_url, timeout=300)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    ok("users", "init", "--user", "admin", "--name", "Ada Admin", "--password-prompt")
    ok("users", "add", "ann", "--name", "Ann Analyst", "--role", "analyst",
       "--password-prompt", "--user", "admin")
    ok("import", source, "--workers", "2", "--user", "admin")
    assert json.loads(ok("info", "--json"))["faces"] >= PERSONS
    ok("case", "open", "2026-0019", "--purpose", "1", "--user", "ann")
    doc = json.loads(ok("search", probe, "--case", "2026-0019", "--json", "--user", "ann"))
    first = doc["searches"][0] if "searches" in doc else doc
    assert first["candidates"][0]["person_id"] == people[1].name
    assert "audit log intact" in ok("audit", "verify")
