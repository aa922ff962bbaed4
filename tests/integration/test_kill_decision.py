"""Recording a decision, killed: a process records decisions in a loop (one transaction
each, through the store's insert_decision in one write transaction) and is SIGKILLed at random
moments. Every stored decision is whole and equal to what was sent, none is lost or
doubled: the count is what was acknowledged before the kill, or one more (committed, but
killed before it could say so).

A short run of the decision phase of scripts/kill_harness.py (which also kills imports
and searches, many times over).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest
from fakes import FAKE_FACTORY

from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery
from facedesk.store.decisions import NewDecision, decision_rows, insert_decision

HARNESS = Path(__file__).resolve().parents[2] / "scripts" / "kill_harness.py"
KILLS = 6


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("kill_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_harness"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("kill_harness", None)


def test_decisions_survive_kills(harness, tmp_path: Path, people_dir: Path) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        for _ in run_import(g, people_dir, engine=EngineSpec(FAKE_FACTORY),
                            options=ImportOptions(workers=1)):
            pass
        # a decision recorded before: the kills must leave it alone
        face_id, engine_id = g.conn.execute("SELECT id, engine_id FROM faces").fetchone()
        first = harness.decision_row(0, face_id, engine_id)
        with g.write() as conn:
            insert_decision(conn, NewDecision.of(
                {**first, "rationale": "an earlier, ordinary decision"}))

    result = harness.decision_phase(db, KILLS, random.Random(7), max_delay_s=0.4)
    assert result.notes and result.failures == 0, result.notes
    assert result.kills + result.ended_before_kill == KILLS
    assert result.kills >= KILLS - 1  # the writer never ends by itself

    with Gallery.open(db) as g:
        rows = decision_rows(g)
        assert g.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert rows[0].rationale == "an earlier, ordinary decision"
    recorded = rows[1:]
    assert len(recorded) > 0
    for n, row in enumerate(recorded):
        assert {k: getattr(row, k) for k in harness.DECISION_FIELDS} == \
            harness.decision_row(n, face_id, engine_id)
