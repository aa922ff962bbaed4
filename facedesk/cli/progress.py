"""The one way a command runs long work: the app's generator yields progress events and
checks a CancelToken; `run` drains it, shows each event, and on Ctrl-C cancels the token,
closes the generator, says what was kept and ends with exit code 130.

    line = StatusLine(quiet)
    final = run(lambda cancel: verify_originals(gallery, cancel=cancel),
                show=lambda ev: line.show(f"{ev.done}/{ev.total}"),
                cancelled="\\ncancelled: nothing was changed")
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

import click

from facedesk.cli.output import EXIT_CANCELLED
from facedesk.domain.progress import CancelToken

P = TypeVar("P")

#: seconds between two progress lines: redrawn in place on a terminal, appended otherwise
REDRAW_S = 0.2
APPEND_S = 5.0


def run(start: Callable[[CancelToken], Iterator[P]], *,
        show: Callable[[P], None] | None = None, cancelled: str = "\ncancelled",
        on_cancel: Callable[[], None] | None = None,
        stopped: Callable[[P], bool] | None = None) -> P:
    """Run `start(cancel)` to its last event and return that event. Ctrl-C, or a last
    event that `stopped` says is the work's own cancellation, prints `cancelled` on
    stderr, calls `on_cancel` (e.g. a JSON document of what was kept) and exits 130."""
    cancel = CancelToken()
    events = start(cancel)
    last: P | None = None
    try:
        for ev in events:
            if show is not None:
                show(ev)
            last = ev
    except KeyboardInterrupt:
        cancel.cancel()
        close = getattr(events, "close", None)  # a generator: run its clean-up now
        if close is not None:
            close()
        _cancelled(cancelled, on_cancel)
    if last is None or (stopped is not None and stopped(last)):
        _cancelled(cancelled, on_cancel)
    return last


def _cancelled(message: str, on_cancel: Callable[[], None] | None) -> NoReturn:
    click.echo(message, err=True)
    if on_cancel is not None:
        on_cancel()
    sys.exit(EXIT_CANCELLED)


class StatusLine:
    """A progress line on stderr: on a terminal redrawn in place (`redraw`, padded to
    `width`) at most every 0.2 s, elsewhere a line every 5 s (`throttle`), or, with
    `tty_only`, nothing; nothing at all when `quiet`, nor in the first `delay_s` seconds
    (work that is usually quick)."""

    def __init__(self, quiet: bool = False, *, width: int = 100, redraw: bool = True,
                 throttle: bool = True, tty_only: bool = False, delay_s: float = 0.0) -> None:
        self.tty = sys.stderr.isatty()
        self.quiet = quiet or (tty_only and not self.tty)
        self.width = width
        self.redraw = redraw and self.tty
        self.throttle = throttle
        self.start = time.monotonic()
        self.delay_s = delay_s
        self.last = 0.0

    def due(self, final: bool = False) -> bool:
        """Whether a new line may be shown now (a `final` one always may)."""
        if self.quiet:
            return False
        now = time.monotonic()
        early = now - self.start < self.delay_s
        soon = self.throttle and now - self.last < (REDRAW_S if self.tty else APPEND_S)
        if not final and (early or soon):
            return False
        self.last = now
        return True

    def show(self, text: str, *, final: bool = False) -> None:
        """Show `text` if due: redrawn over the last line (ending it when `final`), or as
        a line of its own."""
        if not self.due(final):
            return
        if self.redraw:
            click.echo("\r" + text.ljust(self.width), err=True, nl=final)
        else:
            click.echo(text, err=True)

    def note(self, text: str) -> None:
        """A line of its own, not throttled (unless quiet)."""
        if not self.quiet:
            click.echo(text, err=True)

    def end(self) -> None:
        """End a redrawn line (after the work)."""
        if self.redraw and not self.quiet:
            click.echo("", err=True)
