"""The GUI's task runner: app calls run off the GUI thread, results come back on it.

In the spirit of Anki's `CollectionOp`/`QueryOp` and Picard's `run_task`:

    run_task(parent, fn, on_done, on_failed=None, progress=None, gallery=None)

- `fn()` runs in a worker thread; `on_done(result)` is then called on the GUI thread, or
  `on_failed(exc)` (default: a warning box with `describe_error(exc)`) when it raised.
- With `progress`, `fn(token)` is a progress generator taking a `CancelToken`: every event
  it yields goes to `progress(event)` on the GUI thread, `on_done` gets the last one.
- With `gallery=PATH`, the task runs on the gallery lane instead of the thread pool: one
  thread that holds its own SQLite connection to each gallery (a connection belongs to the
  thread that opened it) and runs its tasks one after the other, in the order given (a
  decision is written after the search it belongs to). `fn` then gets that `Gallery` first:
  `fn(gallery)` or `fn(gallery, token)`. `rebind(session, gallery)` makes a signed-in
  session use it.
- With `process=True`, `fn` (picklable: a module-level function, or a functools.partial
  of one) runs in a worker process: pure Python work that would hold the GIL (checking the
  audit log's every record, decoding a 200 MB photo) then never stops the GUI thread.
  It cannot be interrupted; quitting waits for it.
- Nothing is delivered once `parent` is deleted, or after the task was cancelled.

Every piece of background work of the application is in ONE registry (`tasks()`): these
tasks, and the long-lived threads adopted into it (the engine thread, a `GeneratorWorker`).
`tasks().shutdown(owner)` cancels and waits for the work of a window when it closes;
`shutdown()` waits for all of it when the application quits.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThread, QThreadPool, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from facedesk.app.accounts import Session
from facedesk.domain.progress import CancelToken
from facedesk.errors import FaceDeskError
from facedesk.store import Gallery

#: how long quitting waits for running work (after cancelling it) before giving up
SHUTDOWN_WAIT_MS = 30_000


def describe_error(exc: BaseException) -> str:
    """A message a person can act on; a defect also gets its type and location."""
    if isinstance(exc, FaceDeskError):
        return exc.message
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"Unexpected error: {type(exc).__name__}: {exc}{where}"


def rebind(session: Session, gallery: Gallery) -> Session:
    """The same signed-in user, working through `gallery` (another connection to the
    same file, e.g. the gallery lane's)."""
    return dataclasses.replace(session, gallery=gallery)


class _Relay(QObject):
    """Lives in the GUI thread: signals emitted by the worker are queued to it."""

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)


class Task:
    """One piece of work given to `run_task`: a handle to cancel it or wait for it."""

    def __init__(self, name: str, owner: QObject | None, work: Callable[..., Any],
                 with_token: bool, gallery: Path | str | None) -> None:
        self.name = name
        self.owner = owner
        self.token = CancelToken()
        self._work = work
        self._with_token = with_token
        self.gallery = gallery
        self.relay = _Relay()
        self._finished = threading.Event()
        self.started_at = time.monotonic()

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._finished.wait(timeout_s)

    def skip(self, exc: BaseException | None = None) -> None:
        """In the worker thread: end without running (cancelled before it started, or
        `exc`: its gallery could not be opened)."""
        if exc is not None:
            self.relay.failed.emit(exc)
        self._finished.set()

    def run(self, gallery: Gallery | None = None) -> None:
        """In the worker thread."""
        args: list[Any] = [] if gallery is None else [gallery]
        if self._with_token:
            args.append(self.token)
        try:
            result = self._work(*args)
            if self._with_token:  # a progress generator: forward each event
                last = None
                for event in result:  # it stops at its next look at the token
                    last = event
                    if not self.token.cancelled:
                        self.relay.progressed.emit(event)
                result = last
        except BaseException as exc:  # delivered to on_failed, never kills the app
            self.relay.failed.emit(exc)
        else:
            self.relay.succeeded.emit(result)
        finally:
            self._finished.set()


def _process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """One worker process, started (spawned: a forked Qt process is not safe) on first use."""
    global _processes
    if _processes is None:
        _processes = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_yield_to_the_window)
    return _processes


def _yield_to_the_window() -> None:
    """In the worker process: a lower scheduling priority, so that on a busy machine the
    window's process (its GUI thread) gets a processor first."""
    with contextlib.suppress(AttributeError, OSError):  # os.nice: not on Windows
        os.nice(10)


_processes: concurrent.futures.ProcessPoolExecutor | None = None


def _in_process(fn: Callable[[], Any]) -> Callable[[], Any]:
    """`fn` run in the worker process; this thread waits for it (without the GIL)."""
    def run() -> Any:
        return _process_pool().submit(fn).result()

    return run


class _PoolJob(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task
        self.setAutoDelete(True)

    def run(self) -> None:
        self.task.run()


class _GalleryLane(QThread):
    """One thread with its own connection to each gallery; runs its tasks in order."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("facedesk-gallery")
        self._queue: queue.Queue[Task | Callable[[], None] | None] = queue.Queue()
        self._galleries: dict[Path, Gallery] = {}

    def put(self, item: Task | Callable[[], None] | None) -> None:
        self._queue.put(item)

    def release(self, path: Path | str) -> None:
        """Close this thread's connection to `path` (after the tasks queued before)."""
        done = threading.Event()

        def close() -> None:
            gallery = self._galleries.pop(path, None)
            if gallery is not None:
                gallery.close()
            done.set()

        self._queue.put(close)
        done.wait(SHUTDOWN_WAIT_MS / 1000)

    def _gallery(self, path: Path | str) -> Gallery:
        gallery = self._galleries.get(path)
        if gallery is None:
            gallery = self._galleries[path] = Gallery.open(path)
        return gallery

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if isinstance(item, Task):
                if item.cancelled:
                    item.skip()
                    continue
                try:
                    assert item.gallery is not None
                    gallery = self._gallery(item.gallery)
                except BaseException as exc:
                    item.skip(exc)
                    continue
                item.run(gallery)
            else:
                item()
        for gallery in self._galleries.values():
            gallery.close()
        self._galleries.clear()


class _Adopted:
    """A long-lived thread in the registry: how to ask it to stop, and the thread."""

    def __init__(self, thread: QThread, stop: Callable[[], None], owner: QObject | None,
                 name: str) -> None:
        self.thread = thread
        self.stop = stop
        self.owner = owner
        self.name = name


def _owned_by(obj: QObject | None, owner: QObject | None) -> bool:
    """Whether `obj` is `owner` or one of its descendants (every object when owner is
    None)."""
    if owner is None:
        return True
    while obj is not None:
        if obj is owner:
            return True
        try:
            obj = obj.parent()
        except RuntimeError:  # already deleted
            return False
    return False


class TaskRegistry(QObject):
    """All background work of the application: tasks (thread pool or gallery lane) and
    adopted long-lived threads. `busy_changed` tells whether any task is running."""

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(2, min(4, QThread.idealThreadCount())))
        self._lane: _GalleryLane | None = None
        self._tasks: list[Task] = []
        self._adopted: list[_Adopted] = []

    # -- tasks ------------------------------------------------------------------------------

    def run(self, parent: QObject | None, fn: Callable[..., Any],
            on_done: Callable[[Any], None] | None = None,
            on_failed: Callable[[BaseException], None] | None = None,
            progress: Callable[[Any], None] | None = None,
            gallery: Path | str | None = None, name: str = "", process: bool = False) -> Task:
        if process:
            assert gallery is None and progress is None, "a process task is a plain call"
        work = _in_process(fn) if process else fn
        task = Task(name or getattr(fn, "__name__", "task"), parent, work,
                    with_token=progress is not None, gallery=gallery)
        if on_failed is None:
            def on_failed(exc: BaseException) -> None:
                widget = parent if isinstance(parent, QWidget) else None
                QMessageBox.warning(widget, "FaceDesk", describe_error(exc))

        def alive() -> bool:
            return not task.cancelled and (parent is None or shiboken6.isValid(parent))

        def succeeded(result: Any) -> None:
            self._forget(task)
            if alive() and on_done is not None:
                on_done(result)

        def failed(exc: BaseException) -> None:
            self._forget(task)
            if alive():
                on_failed(exc)

        if progress is not None:
            task.relay.progressed.connect(lambda event: alive() and progress(event))
        task.relay.succeeded.connect(succeeded)
        task.relay.failed.connect(failed)
        was_idle = not self._tasks
        self._tasks.append(task)
        if was_idle:
            self.busy_changed.emit(True)
        if gallery is None:
            self.pool.start(_PoolJob(task))
        else:
            self.lane().put(task)
        return task

    def _forget(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
            task.relay.deleteLater()
            if not self._tasks:
                self.busy_changed.emit(False)

    def lane(self) -> _GalleryLane:
        if self._lane is None:
            self._lane = _GalleryLane()
            self._lane.start()
        return self._lane

    def release_gallery(self, path: Path | str) -> None:
        """Close the gallery lane's connection to `path` (before a restore replaces the
        file); the next task on it opens it again."""
        if self._lane is not None:
            self._lane.release(path)

    def running(self, owner: QObject | None = None) -> list[Task]:
        """The tasks not yet delivered (of `owner` and its children, or all)."""
        return [t for t in self._tasks if _owned_by(t.owner, owner)]

    def idle(self, owner: QObject | None = None) -> bool:
        return not self.running(owner)

    # -- long-lived threads -----------------------------------------------------------------

    def adopt(self, thread: QThread, stop: Callable[[], None], owner: QObject | None = None,
              name: str = "") -> None:
        """Keep `thread` in the registry until it has finished: `shutdown` calls `stop()`
        (ask it to end: cancel its work, quit its event loop) and waits for it."""
        self._prune()
        self._adopted.append(_Adopted(thread, stop, owner, name or thread.objectName()))

    def _prune(self) -> None:
        self._adopted = [a for a in self._adopted
                         if shiboken6.isValid(a.thread) and not a.thread.isFinished()]

    def threads(self, owner: QObject | None = None) -> list[QThread]:
        """The adopted threads still running (of `owner` and its children, or all)."""
        self._prune()
        return [a.thread for a in self._adopted if _owned_by(a.owner, owner)]

    # -- quitting ---------------------------------------------------------------------------

    def shutdown(self, owner: QObject | None = None, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Cancel the work of `owner` (None: all of it) and wait until it has ended;
        False if some did not end within `timeout_ms`."""
        deadline = time.monotonic() + timeout_ms / 1000
        tasks = self.running(owner)
        self._prune()
        adopted = [a for a in self._adopted if _owned_by(a.owner, owner)]
        for t in tasks:
            t.cancel()
        for a in adopted:
            a.stop()
        ok = True
        for t in tasks:
            ok = t.wait(max(0.0, deadline - time.monotonic())) and ok
            self._forget(t)
        for a in adopted:
            if shiboken6.isValid(a.thread):
                left = max(0, int((deadline - time.monotonic()) * 1000))
                ok = a.thread.wait(left) and ok
        self._prune()
        if owner is None:
            if self._lane is not None:
                self._lane.put(None)
                ok = self._lane.wait(max(0, int((deadline - time.monotonic()) * 1000))) and ok
                self._lane = None
            ok = self.pool.waitForDone(max(0, int((deadline - time.monotonic()) * 1000))) \
                and ok
            global _processes
            if _processes is not None:
                _processes.shutdown(wait=ok, cancel_futures=True)
                _processes = None
        return ok


_registry: TaskRegistry | None = None


def tasks() -> TaskRegistry:
    """The application's one registry of running work (waited for when it quits)."""
    global _registry
    app = QCoreApplication.instance()
    if _registry is None or not shiboken6.isValid(_registry):
        _registry = TaskRegistry(app)
        if app is not None:
            app.aboutToQuit.connect(_registry.shutdown)
        # also when the interpreter ends without the event loop quitting (a script, tests)
        atexit.register(_shutdown_at_exit)
    return _registry


def _shutdown_at_exit() -> None:
    if _registry is not None and shiboken6.isValid(_registry):
        _registry.shutdown()


def run_task(parent: QObject | None, fn: Callable[..., Any],
             on_done: Callable[[Any], None] | None = None,
             on_failed: Callable[[BaseException], None] | None = None,
             progress: Callable[[Any], None] | None = None, *,
             gallery: Path | str | None = None, name: str = "", process: bool = False) -> Task:
    """Run `fn` off the GUI thread and deliver its result on it (see the module's
    docstring)."""
    return tasks().run(parent, fn, on_done, on_failed, progress, gallery=gallery, name=name,
                       process=process)

