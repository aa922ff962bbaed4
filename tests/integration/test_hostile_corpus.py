"""The hostile corpus (tests/hostile.py) imported with the real engine: every good photo
stored with its face, every bad file and row reported with its reason code, nothing else
stored, no crash, no hang, bounded memory.

The corpus is built once per module in tmp_path from one LFW photo: a folder-per-person
source of about 120 files and a set of CSV manifests. It is imported through run_import
(folder and manifests, one worker, in this process) and once through the command line
as a separate process with two workers and --json, whose peak memory (its own and its
workers', from wait4) is checked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import (
    FACE,
    IGNORED,
    NO_FACE,
    PERMISSION_KINDS,
    Case,
    Corpus,
    build_corpus,
    restore_permissions,
)
from prerequisites import missing

from facedesk.app.importer import ImportOptions, ImportProgress, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.errors import SourceError
from facedesk.store import Gallery, Problem

BASE_PHOTO = ("Aaron_Peirsol", "Aaron_Peirsol_0001.jpg")
#: the distinct kinds of input the corpus must hold
MIN_KINDS = 40
#: no single file may take longer than this (the first one also loads the models)
MAX_SECONDS_PER_ITEM = 20.0
#: the whole folder import (about 120 files, one worker)
MAX_IMPORT_SECONDS = 120.0
#: peak resident memory of the command-line import, workers included
MAX_RSS_BYTES = 1.5 * 2**30


@dataclass
class Imported:
    final: ImportProgress
    db: Path
    seconds: float
    slowest: tuple[float, str]


@pytest.fixture(scope="module")
def engine(real_engine_spec: EngineSpec) -> EngineSpec:
    """The real engine, one instance for every in-process import of this module."""
    return EngineSpec("hostile:shared_real_engine")


@pytest.fixture(scope="module")
def corpus(lfw_images: Path, tmp_path_factory: pytest.TempPathFactory):
    photo = lfw_images.joinpath(*BASE_PHOTO)
    if not photo.is_file():
        missing(f"{photo} not found")
    c = build_corpus(tmp_path_factory.mktemp("hostile"), photo)
    yield c
    restore_permissions(c)


def _import(db: Path, spec: EngineSpec, source: Path | None,
            manifest: Path | None = None) -> Imported:
    started = last = time.monotonic()
    slowest = (0.0, "")
    with Gallery.open(db, create=True) as g:
        for ev in run_import(g, source, manifest=manifest, options=ImportOptions(workers=1),
                             engine=spec):
            now = time.monotonic()
            if ev.phase == "importing" and now - last > slowest[0]:
                slowest = (now - last, ev.current)
            last = now
    assert ev.phase == "finished"
    return Imported(ev, db, time.monotonic() - started, slowest)


@pytest.fixture(scope="module")
def folder_import(corpus: Corpus, engine: EngineSpec) -> Imported:
    return _import(corpus.root / "folder.db", engine, corpus.people)


def _stored(db: Path) -> dict[Path, tuple[int, bool]]:
    """resolved path -> (faces found, a face stored) of every stored photo"""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT p.path, p.faces_found, f.id FROM photos p "
                            "LEFT JOIN faces f ON f.photo_id = p.id").fetchall()
    out: dict[Path, tuple[int, bool]] = {}
    for path, found, face_id in rows:
        key = Path(path).resolve()
        assert key not in out, f"{path} stored twice"
        out[key] = (found, face_id is not None)
    return out


def _twin_groups(cases: list[Case]) -> list[list[Case]]:
    """Cases with the same bytes: the first listed is stored, the others duplicates, but
    which one comes first depends on the order workers finish in."""
    by_key = {c.key: c for c in cases}
    groups: dict[tuple[str, int | None], list[Case]] = {}
    for c in cases:
        if c.twin is not None:
            head = by_key[(c.twin, c.twin_line)]
            groups.setdefault(head.key, [head]).append(c)
    return list(groups.values())


def check_outcomes(cases: list[Case], problems: list[Problem],
                   stored: dict[Path, tuple[int, bool]], *, fixed_order: bool = True) -> None:
    """Every case has its outcome; every problem and every stored photo is a case's."""
    by_key: dict[tuple[str, int | None], list[Problem]] = {}
    for p in problems:
        by_key.setdefault((p.path, p.line), []).append(p)
    unexpected = [p for key, ps in by_key.items() for p in ps
                  if key not in {c.key for c in cases}]
    assert not unexpected, f"problems no case expects: {unexpected}"
    for key, ps in by_key.items():
        assert len(ps) == 1, f"{key} reported {len(ps)} times: {ps}"

    grouped = {c.key for g in _twin_groups(cases) for c in g}
    failures = []
    expected_stored: set[Path] = set()
    for c in cases:
        got = by_key.get(c.key, [None])[0]
        where = f"{c.kind} ({c.display!r}, line {c.line})"
        if c.key in grouped and not fixed_order:
            continue  # checked as a group below
        if c.outcome == FACE:
            assert c.path is not None
            expected_stored.add(c.path.resolve())
            _, has_face = stored.get(c.path.resolve(), (0, False))
            if got is not None or not has_face:
                state = "stored without a face" if c.path.resolve() in stored else "not stored"
                failures.append(f"{where}: expected stored with a face, got {got or state}")
        elif c.outcome == NO_FACE:
            assert c.path is not None
            expected_stored.add(c.path.resolve())
            if got is None or got.code != "no_face" or stored.get(c.path.resolve()) != (0, False):
                failures.append(f"{where}: expected stored without a face, got {got}, "
                                f"stored {stored.get(c.path.resolve())}")
        elif c.outcome == IGNORED:
            if got is not None or (c.path is not None and c.path.resolve() in stored):
                failures.append(f"{where}: expected to be left alone, got {got}")
        else:
            if got is None or got.code != c.outcome:
                failures.append(f"{where}: expected problem {c.outcome!r}, got {got}")
                continue
            if not got.reason.strip() or got.reason.startswith(c.display):
                failures.append(f"{where}: reason {got.reason!r} is empty or repeats the path")
            if c.reason and c.reason not in got.reason.lower():
                failures.append(f"{where}: reason {got.reason!r} does not say {c.reason!r}")
    for group in _twin_groups(cases):
        outcomes = Counter((by_key.get(c.key, [None])[0] or Problem("", FACE, "")).code
                           for c in group)
        if outcomes != Counter({FACE: 1, "duplicate": len(group) - 1}):
            failures.append(f"{group[0].kind}: copies of one photo gave {dict(outcomes)}")
        for c in group:
            dup = by_key.get(c.key, [None])[0]
            if dup is not None and dup.code == "duplicate" and "same photo as" not in dup.reason:
                failures.append(f"{c.kind}: duplicate reason {dup.reason!r}")
        expected_stored.update(c.path.resolve() for c in group if c.path is not None)
    assert not failures, "\n".join(failures)
    extra = set(stored) - expected_stored
    assert not extra, f"stored, but no case expects it: {sorted(map(str, extra))}"


# --- the tests -----------------------------------------------------------------------------


def test_corpus_holds_enough_distinct_kinds(corpus: Corpus) -> None:
    assert len(corpus.kinds) >= MIN_KINDS, sorted(corpus.kinds)
    outcomes = Counter(c.outcome for c in corpus.people_cases)
    assert outcomes[FACE] >= 40 and outcomes[NO_FACE] >= 5
    assert {"unreadable", "unsupported", "too_large", "missing", "duplicate",
            "symlink_loop", "bad_name"} <= set(outcomes)


def test_folder_corpus_every_file_has_its_outcome(corpus: Corpus, folder_import: Imported) -> None:
    final = folder_import.final
    assert final.status == "completed"
    check_outcomes(corpus.people_cases, list(final.problems), _stored(folder_import.db))
    # the counts agree with the outcomes
    c = final.counts
    expected = Counter(x.outcome for x in corpus.people_cases)
    assert c.imported == expected[FACE] + expected[NO_FACE]
    assert c.no_face == expected[NO_FACE]
    assert c.duplicates == expected["duplicate"]
    assert c.failed == sum(n for k, n in expected.items()
                           if k not in (FACE, NO_FACE, IGNORED, "duplicate"))
    # the problems were recorded in the gallery as reported
    with Gallery.open(folder_import.db) as g:
        recorded = g.problems(final.run_id)
    assert sorted((p.path, p.code, p.reason) for p in recorded) == \
        sorted((p.path, p.code, p.reason) for p in final.problems)


def test_folder_corpus_imports_in_bounded_time(folder_import: Imported) -> None:
    seconds, item = folder_import.slowest
    assert seconds < MAX_SECONDS_PER_ITEM, f"{item!r} took {seconds:.1f} s"
    assert folder_import.seconds < MAX_IMPORT_SECONDS, f"import took {folder_import.seconds:.0f} s"


def test_unreadable_permissions(corpus: Corpus, folder_import: Imported) -> None:
    if set(PERMISSION_KINDS) <= set(corpus.skipped):
        pytest.skip(f"unreadable files and folders: {corpus.skipped[PERMISSION_KINDS[0]]}")
    codes = {p.path: p.code for p in folder_import.final.problems}
    assert codes["Permissions/locked.jpg"] == "unreadable"
    assert codes["Permissions/locked_folder"] == "unreadable"


def test_manifests_every_row_has_its_outcome(corpus: Corpus, engine: EngineSpec,
                                             tmp_path: Path) -> None:
    for i, m in enumerate(corpus.manifests):
        db = tmp_path / f"manifest{i}.db"
        if m.error is not None:
            with Gallery.open(db, create=True) as g:
                events = run_import(g, None, manifest=m.csv, options=ImportOptions(workers=1),
                                    engine=engine)
                with pytest.raises(SourceError) as err:
                    next(events)
                assert m.error in err.value.message.lower(), (m.kind, err.value.message)
                assert g.last_run() is None, m.kind  # refused before anything was written
            continue
        done = _import(db, engine, None, manifest=m.csv)
        assert done.final.status == "completed", m.kind
        check_outcomes(m.cases, list(done.final.problems), _stored(db))
        with Gallery.open(db) as g:
            names = {p.person_id: p.name for p in g.iter_persons()}
        for person, name in m.names.items():
            assert names.get(person) == name, (m.kind, person, names.get(person))


def _run_measured(args: list[str], env: dict[str, str],
                  timeout: float) -> tuple[int, str, str, int, float]:
    """Run a command; (exit code, stdout, stderr, peak RSS in bytes of it and every child
    it waited for, seconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return (code, out.read().decode("utf-8"), err.read().decode("utf-8", "replace"),
                usage.ru_maxrss * 1024, seconds)


def test_cli_import_json_bounded_memory(corpus: Corpus, real_engine_spec: EngineSpec,
                                        facedesk_cmd, tmp_path: Path) -> None:
    command, env = facedesk_cmd
    db = tmp_path / "cli.db"
    code, out, err, rss, seconds = _run_measured(
        [*command, "import", str(corpus.people), "--db", str(db), "--workers", "2",
         "--json", "--quiet"], env, timeout=MAX_IMPORT_SECONDS * 2)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    summary = json.loads(out)
    assert summary["status"] == "completed"
    problems = [Problem(p["path"], p["code"], p["reason"], p.get("line"))
                for p in summary["problems"]]
    check_outcomes(corpus.people_cases, problems, _stored(db), fixed_order=False)
    assert rss < MAX_RSS_BYTES, f"peak memory {rss / 2**20:.0f} MB"
    assert seconds < MAX_IMPORT_SECONDS, f"command-line import took {seconds:.0f} s"
