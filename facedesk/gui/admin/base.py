"""What every administration page shares: the signed-in session, an inline error and status
line, `act` (run one core call and show its refusal), buttons enabled by permission, and the
lead banner."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from facedesk.app import accounts
from facedesk.app.accounts import ACTION_WORDS, PERMISSIONS, ROLES, Session
from facedesk.domain.chain import RECORDS_KEY
from facedesk.errors import FaceDeskError
from facedesk.gui.tasks import describe_error, rebind, run_task
from facedesk.gui.widgets import Dialog, Item, button, error_label, row, show_error, wrapped

T = TypeVar("T")

#: the permanent wording of every second-review screen
LEAD_WORDING = "Investigative lead only — not probable cause, not an identification"

_BANNER_STYLE = ("QLabel#leadBanner { background: #fff3cd; color: #5c4400; "
                 "border: 1px solid #e0b84c; border-radius: 3px; padding: 4px 8px; "
                 "font-weight: bold; }")


def not_permitted(session: Session, action: str) -> str:
    """The tooltip of a button the signed-in user may not use."""
    who = ", ".join(ROLES[r] for r in sorted(PERMISSIONS[action]))
    return (f"Only {who} may {ACTION_WORDS[action]}; you are signed in as "
            f"{session.user.label}.")


def user_names(session: Session) -> dict[str, str]:
    return {u.id: f"{u.display_name} ({u.id})" for u in accounts.users(session.gallery)}


def readable_data(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data as a person reads it: the digests of the records it wrote (for
    `audit verify`, up to one per photo of an import batch) as their count per table."""
    logged = data.get(RECORDS_KEY)
    if not isinstance(logged, dict):
        return data
    counts = {table: f"{len(doc.get('rows', {})):,} row digests" if isinstance(doc, dict)
              else doc for table, doc in logged.items()}
    return {**data, RECORDS_KEY: counts}


def short_data(data: dict[str, Any], limit: int = 110) -> str:
    """An event's data on one line (`readable_data`), cut at `limit` characters."""
    parts, length = [], 0
    for k, v in readable_data(data).items():
        text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        parts.append(f"{k}={text}")
        length += len(parts[-1]) + 2
        if length > limit:
            break
    line = ", ".join(parts)
    return line if len(line) <= limit else line[:limit - 1] + "…"


def quietly(fn: Callable[[], object]) -> None:
    """A slot's call of an action: its refusal is already shown inline."""
    with contextlib.suppress(FaceDeskError):
        fn()


def banner() -> QLabel:
    label = QLabel(LEAD_WORDING)
    label.setObjectName("leadBanner")
    label.setStyleSheet(_BANNER_STYLE)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    return label


class AdminDialog(Dialog):
    """A dialog that works on a signed-in `Session` through the core, which checks every rule
    and records every change as an audit event. Each action is a method (the tests call
    them); an action refused by the core shows its message in `error_label` and the method
    raises it again so that a caller knows."""

    def __init__(self, session: Session, name: str, title: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(name, title, parent)
        self.session = session
        self.gallery = session.gallery
        self.error_label = error_label("errorLabel", selectable=True)
        self.status_label = wrapped(name="statusLabel", selectable=True)

    def show_error(self, message: str) -> None:
        show_error(self.error_label, message)

    def show_status(self, message: str) -> None:
        self.status_label.setText(message)

    def act(self, fn: Callable[[], T]) -> T:
        """Run one action: its refusal is shown inline and raised again."""
        self.show_error("")
        try:
            return fn()
        except FaceDeskError as exc:
            self.show_error(exc.message)
            raise

    def act_later(self, fn: Callable[[Session], T], then: Callable[[T], object]) -> None:
        """Run one action off the GUI thread (facedesk.gui.tasks: `fn(session)`, the
        session working through the gallery lane's connection), then `then(result)` on
        the GUI thread; a refusal is shown inline."""
        self.show_error("")
        session = self.session
        run_task(self, lambda gallery: fn(rebind(session, gallery)), then,
                 lambda exc: self.show_error(describe_error(exc)),
                 gallery=session.gallery.open_location)

    def act_now_or_later(self, fn: Callable[[Session], T], then: Callable[[T], T],
                         wait: bool) -> T | None:
        """`then(fn(session))`: now (`act`), or with wait=False off the GUI thread
        (`act_later`; None is returned)."""
        if wait:
            return then(self.act(lambda: fn(self.session)))
        self.act_later(fn, then)
        return None

    def allow(self, widget: QWidget, action: str, ready: bool = True,
              why_not: str = "") -> None:
        """Enable `widget` when the signed-in user may do `action` and the dialog is `ready`;
        its tooltip says who may, or `why_not`."""
        permitted = self.session.may(action)
        widget.setEnabled(permitted and ready)
        widget.setToolTip(not_permitted(self.session, action) if not permitted
                          else "" if ready else why_not)

    def closing_row(self, *items: Item) -> QHBoxLayout:
        """A row of `items` (see `widgets.row`) ending in a Close button."""
        return row(*items, button("Close", "", self.accept))
