"""Waiting for a window's work: app calls run off the GUI thread (facedesk/gui/tasks.py),
so a test that acts on the window waits until they have been delivered before it looks."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from facedesk.gui.tasks import tasks


def settle(qtbot, widget: QWidget, timeout: int = 20_000) -> None:
    """Wait until every task `widget` (and its children) gave the runner is delivered."""
    qtbot.waitUntil(lambda: tasks().idle(widget), timeout=timeout)
