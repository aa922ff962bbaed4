"""The window's state without Qt: the open gallery, who is signed in, the case worked in, the
probe and the current search (its candidate list), and the rules of how one change clears
the others. Listeners (`on_change`) are told which parts changed, so that labels and
actions follow the state from one place instead of every setter calling each update.

Qt-free on purpose: the rules are tested without a window (tests/unit/test_workspace.py),
and the window only subscribes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facedesk.app.accounts import Session
    from facedesk.app.cases import Case
    from facedesk.app.review import Review
    from facedesk.app.search import Probe
    from facedesk.store import Gallery

#: the parts of the state a listener is told about
GALLERY, SESSION, CASE, PROBE, SEARCH = "gallery", "session", "case", "probe", "search"

Listener = Callable[[frozenset[str]], None]


@dataclass
class Workspace:
    """What the window works on. Each setter applies the rules and tells the listeners
    once, with every part it changed."""

    gallery: Gallery | None = None
    session: Session | None = None
    case: Case | None = None
    probe: Probe | None = None
    search: Review | None = None
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    # -- listeners -----------------------------------------------------------------------------

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(changed parts)` after every change; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _tell(self, changed: set[str]) -> None:
        if changed:
            parts = frozenset(changed)
            for listener in list(self._listeners):
                listener(parts)

    def _set(self, changed: set[str], **values: object) -> None:
        """Set attributes; note the parts whose value is another object."""
        for name, value in values.items():
            if getattr(self, name) is not value:
                setattr(self, name, value)
                changed.add(name)

    # -- the rules -----------------------------------------------------------------------------

    def open_gallery(self, gallery: Gallery | None) -> None:
        """Another gallery (or none): nobody is signed in to it yet, no case, probe or
        search carries over."""
        changed: set[str] = set()
        self._set(changed, gallery=gallery, session=None, case=None, probe=None, search=None)
        self._tell(changed)

    def set_session(self, session: Session | None) -> None:
        """Work as this user (None: nobody is signed in). Another user starts from a clean
        screen: no probe, search or case of the previous one; the same user keeps them."""
        changed: set[str] = set()
        before = self.session
        if before is not None and (session is None or session.user_id != before.user_id):
            self._set(changed, case=None, probe=None, search=None)
        self._set(changed, session=session)
        if session is None:
            self._set(changed, case=None)
        self._tell(changed)

    def set_case(self, case: Case | None) -> None:
        """Work in this case; a search of another case is closed (the window asks first
        when its candidates have no decision)."""
        changed: set[str] = set()
        if self.search is not None and (case is None or self.case is None
                                        or case.id != self.case.id):
            self._set(changed, search=None)
        self._set(changed, case=case)
        self._tell(changed)

    def refresh_case(self, case: Case | None) -> None:
        """The case as stored now (another dialog may have closed it): the same case, read
        again; its search stays."""
        changed: set[str] = set()
        self._set(changed, case=case)
        self._tell(changed)

    def set_probe(self, probe: Probe | None) -> None:
        changed: set[str] = set()
        self._set(changed, probe=probe)
        self._tell(changed)

    def set_search(self, search: Review | None) -> None:
        changed: set[str] = set()
        self._set(changed, search=search)
        self._tell(changed)

    def clear_work(self) -> None:
        """No search, probe or case: what the window shows after signing out."""
        changed: set[str] = set()
        self._set(changed, search=None, probe=None, case=None)
        self._tell(changed)
