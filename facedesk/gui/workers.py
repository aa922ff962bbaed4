"""Background work for the GUI. Widgets never block: long work runs in a QThread and
talks to the window only through queued signals. Both kinds of thread here are kept in the
application's one registry of running work (`facedesk.gui.tasks`), which cancels and waits
for them when their window closes or the application quits; one-off app calls go through
`facedesk.gui.tasks.run_task`.

- `GeneratorWorker` drives one of core's progress generators (e.g. `run_import`) in its
  own thread, forwarding each event, and cancels through the core's CancelToken.
- `EngineService` is a long-lived thread that hands requests to the engine process, which
  owns the face engine and a search index for one gallery (SQLite connection and dlib
  models stay there): probe analysis and searches are requests to it, answered by
  signals. In a process of its own, dlib's native calls and the index's Python never hold
  the GIL the GUI thread needs.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from facedesk.app.search import Probe, Searcher, SearchResult, analyze_probe, choose_face
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.faces import Box, Face, FaceEngine
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.gui.tasks import describe_error, tasks
from facedesk.store import Gallery


class GeneratorWorker(QThread):
    """Runs `make_events(cancel_token)` (a generator) in this thread; emits every event."""

    progress = Signal(object)
    failed = Signal(str)
    done = Signal(object)  # the last event (or None)

    def __init__(self, make_events: Callable[[CancelToken], Iterator[Any]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._make_events = make_events
        self.cancel_token = CancelToken()

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def start(self, priority: QThread.Priority = QThread.Priority.InheritPriority) -> None:
        """Start, in the application's registry of running work: quitting cancels this
        worker and waits for it."""
        tasks().adopt(self, self.cancel, owner=self.parent(), name=type(self).__name__)
        super().start(priority)

    def run(self) -> None:
        last = None
        try:
            for event in self._make_events(self.cancel_token):
                last = event
                self.progress.emit(event)
        except BaseException as exc:  # report, never kill the application
            self.failed.emit(describe_error(exc))
            return
        self.done.emit(last)


# -- the engine process: its engine, gallery connection and search index -----------------

_engine_state: dict[str, Any] = {}


def _engine(spec: EngineSpec) -> FaceEngine:
    if _engine_state.get("spec") != spec:
        _engine_state["engine"] = spec.create()
        _engine_state["spec"] = spec
    engine: FaceEngine = _engine_state["engine"]
    return engine


def _analyze(spec: EngineSpec, path: str, upsample: int) -> Probe:
    return analyze_probe(_engine(spec), Path(path),
                         DetectOptions(upsample=upsample, max_side=2048))


def _describe(spec: EngineSpec, probe: Probe, box: Box) -> Face:
    return choose_face(_engine(spec), probe, box=box)


def _search(spec: EngineSpec, db: str, encoding: Any, top_k: int) -> SearchResult:
    if _engine_state.get("db") != db:
        _release()
        gallery = Gallery.open(db)  # a path, or a server's URL
        _engine_state.update(db=db, gallery=gallery,
                             searcher=Searcher(gallery, _engine(spec).identity()))
    searcher: Searcher = _engine_state["searcher"]
    return searcher.search(encoding, top_k)


def _release() -> None:
    gallery = _engine_state.pop("gallery", None)
    _engine_state.pop("searcher", None)
    _engine_state.pop("db", None)
    if gallery is not None:
        gallery.close()


class _EngineWorker(QObject):
    """In the engine thread: each request is done by the engine process (dlib's native
    calls and the index's Python keep the GIL, which the GUI thread shares with every
    thread of its process, not with another process); this thread waits for it."""

    analyzed = Signal(int, object)  # request id, Probe
    searched = Signal(int, object, object)  # request id, Face, SearchResult
    described = Signal(int, object)  # request id, Face (a hand-drawn box)
    failed = Signal(int, str)  # request id, message
    busy = Signal(bool)

    def __init__(self, spec: EngineSpec) -> None:
        super().__init__()
        self._spec = spec
        self._process: concurrent.futures.ProcessPoolExecutor | None = None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._process is None:  # started (spawned: never fork a Qt process) when needed
            self._process = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._process.submit(fn, *args).result()

    def _run(self, request: int, fn: Callable[[], None]) -> None:
        self.busy.emit(True)
        try:
            fn()
        except BaseException as exc:
            self.failed.emit(request, describe_error(exc))
        finally:
            self.busy.emit(False)

    @Slot(int, str, int)
    def analyze(self, request: int, path: str, upsample: int) -> None:
        self._run(request, lambda: self.analyzed.emit(
            request, self._call(_analyze, self._spec, path, upsample)))

    @Slot(int, object, object)
    def describe_box(self, request: int, probe: Any, box: Box) -> None:
        self._run(request, lambda: self.described.emit(
            request, self._call(_describe, self._spec, probe, box)))

    @Slot(int, str, object, int)
    def search(self, request: int, db: str, face: Any, top_k: int) -> None:
        self._run(request, lambda: self.searched.emit(
            request, face, self._call(_search, self._spec, db, face.encoding, top_k)))

    @Slot()
    def close(self) -> None:
        """Close the engine process's connection to the gallery (it stays up)."""
        if self._process is not None:
            self._call(_release)

    @Slot()
    def finish(self) -> None:
        """End the engine process (the window closes)."""
        if self._process is not None:
            self._process.shutdown(wait=True, cancel_futures=True)
            self._process = None


class EngineService(QObject):
    """The engine thread, seen from the window. Call analyze / describe_box / search;
    each returns a request id that the answering signal carries."""

    analyzed = Signal(int, object)
    searched = Signal(int, object, object)
    described = Signal(int, object)
    failed = Signal(int, str)
    busy = Signal(bool)

    _analyze = Signal(int, str, int)
    _describe = Signal(int, object, object)
    _search = Signal(int, str, object, int)
    _close = Signal()
    _release = Signal()
    _finish = Signal()

    def __init__(self, spec: EngineSpec | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("facedesk-engine")
        self._worker = _EngineWorker(spec or EngineSpec())
        self._worker.moveToThread(self._thread)
        self._analyze.connect(self._worker.analyze)
        self._describe.connect(self._worker.describe_box)
        self._search.connect(self._worker.search)
        self._close.connect(self._worker.close)
        self._finish.connect(self._worker.finish)
        # waits until the engine thread has closed its connection to the gallery
        self._release.connect(self._worker.close, Qt.ConnectionType.BlockingQueuedConnection)
        self._worker.analyzed.connect(self.analyzed)
        self._worker.searched.connect(self.searched)
        self._worker.described.connect(self.described)
        self._worker.failed.connect(self.failed)
        self._worker.busy.connect(self.busy)
        self._next = 0
        self._thread.start()
        # its lifetime is the registry's: closing the window (or quitting) stops and
        # waits for it
        tasks().adopt(self._thread, self._stop, owner=self, name="engine")

    def _stop(self) -> None:
        self._finish.emit()
        self._thread.quit()

    def _request(self) -> int:
        self._next += 1
        return self._next

    def analyze(self, path: Path, upsample: int = 1) -> int:
        rid = self._request()
        self._analyze.emit(rid, str(path), upsample)
        return rid

    def describe_box(self, probe: Any, box: Box) -> int:
        rid = self._request()
        self._describe.emit(rid, probe, box)
        return rid

    def search(self, db: Path | str, face: Any, top_k: int) -> int:
        rid = self._request()
        self._search.emit(rid, str(db), face, top_k)
        return rid

    def release_gallery(self) -> None:
        """Close the engine thread's connection to the gallery now (before a restore
        replaces the file); the next search opens it again."""
        self._release.emit()

    def shutdown(self) -> None:
        tasks().shutdown(owner=self, timeout_ms=10_000)
