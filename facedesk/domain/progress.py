"""Cancellation and progress for long work. Long operations are plain generators that
yield progress events and check a CancelToken, so the CLI draws a bar over them and the
GUI runs them in a worker thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar


class CancelToken:
    """Thread-safe 'please stop'; the work stops at its next check, keeping what is done."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class RateMeter:
    """Items per second and time left, measured since `start`."""

    total: int
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.start or time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def rate(self, done: int) -> float:
        el = self.elapsed()
        return done / el if el > 0 and done > 0 else 0.0

    def eta(self, done: int) -> float | None:
        r = self.rate(done)
        return (self.total - done) / r if r > 0 else None


_R = TypeVar("_R", covariant=True)


class Outcome(Protocol[_R]):
    """A progress event that carries the job's result on its last event (None until
    then, and on a "cancelled" last event)."""

    @property
    def result(self) -> _R | None: ...


def run_to_end(steps: Iterable[Outcome[_R]]) -> _R | None:
    """Drain a job's generator (no progress, no cancel): the result of its last event,
    None when it ended cancelled."""
    result = None
    for step in steps:
        result = step.result
    return result
