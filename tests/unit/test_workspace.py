"""The window's Qt-free state: how one change clears the others, and who is told."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

from facedesk.gui.workspace import CASE, GALLERY, PROBE, SEARCH, SESSION, Workspace


def _user(user_id: str) -> Any:
    return SimpleNamespace(user_id=user_id)


def _case(case_id: int) -> Any:
    return SimpleNamespace(id=case_id)


def _recorded(ws: Workspace) -> list[frozenset[str]]:
    seen: list[frozenset[str]] = []
    ws.on_change(seen.append)
    return seen


def _working(ws: Workspace) -> None:
    ws.gallery = object()  # type: ignore[assignment]
    ws.session = _user("ann")
    ws.case = _case(1)
    ws.probe = object()  # type: ignore[assignment]
    ws.search = object()  # type: ignore[assignment]


def test_another_gallery_clears_everything_and_says_so_once() -> None:
    ws = Workspace()
    _working(ws)
    seen = _recorded(ws)
    other = object()
    ws.open_gallery(other)  # type: ignore[arg-type]
    assert ws.gallery is other and ws.session is ws.case is ws.probe is ws.search is None
    assert seen == [frozenset({GALLERY, SESSION, CASE, PROBE, SEARCH})]


def test_another_user_starts_clean_the_same_user_keeps_the_work() -> None:
    ws = Workspace()
    _working(ws)
    seen = _recorded(ws)
    ws.set_session(_user("ann"))  # signed in again as the same user
    assert ws.case is not None and ws.probe is not None and ws.search is not None
    assert seen == [frozenset({SESSION})]
    ws.set_session(_user("bob"))
    assert ws.case is ws.probe is ws.search is None
    assert seen[-1] == frozenset({SESSION, CASE, PROBE, SEARCH})


def test_signing_out_leaves_no_case() -> None:
    ws = Workspace()
    _working(ws)
    ws.set_session(None)
    assert ws.session is None and ws.case is None


def test_another_case_closes_the_search_the_same_case_keeps_it() -> None:
    ws = Workspace()
    _working(ws)
    seen = _recorded(ws)
    ws.set_case(_case(1))
    assert ws.search is not None and seen == [frozenset({CASE})]
    ws.refresh_case(_case(1))
    assert ws.search is not None
    ws.set_case(_case(2))
    assert ws.search is None and seen[-1] == frozenset({CASE, SEARCH})


def test_nothing_changed_tells_nobody_and_unsubscribe_stops_the_calls() -> None:
    ws = Workspace()
    seen = _recorded(ws)
    ws.set_probe(None)
    ws.clear_work()
    assert seen == []
    probe = object()
    stop = ws.on_change(lambda parts: seen.append(parts | {"second"}))
    ws.set_probe(probe)  # type: ignore[arg-type]
    assert seen == [frozenset({PROBE}), frozenset({PROBE, "second"})]
    stop()
    ws.set_search(object())  # type: ignore[arg-type]
    assert seen[-1] == frozenset({SEARCH})


def test_the_workspace_imports_without_qt() -> None:
    code = ("import sys, facedesk.gui.workspace; "
            "assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
