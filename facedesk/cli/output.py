"""How a command speaks and ends: JSON documents, text safe for a terminal, exit codes, and
user errors as one line instead of a traceback.

`--json` prints one JSON document on stdout (`emit_json`); progress and notes go to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from facedesk.errors import FaceDeskError
from facedesk.store.db import DbError
from facedesk.store.gallery import sqlite_problem

F = TypeVar("F", bound=Callable[..., Any])

#: the exit codes of every command
EXIT_USER_ERROR = 1  # a one-line "error: ..." on stderr: bad input, refused, not found
EXIT_CHECK_FAILED = 1  # a check (verify, audit verify, ...) found a problem; the report says
EXIT_CANCELLED = 130  # Ctrl-C: the work stopped, keeping what each command says it keeps
# (a bad option or argument: click's own usage error, exit code 2)


def json_text(doc: Any) -> str:
    """`doc` as FaceDesk writes JSON: indented, UTF-8 text, dates and paths as text."""
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)


def emit_json(doc: Any) -> None:
    """The command's one JSON document, on stdout."""
    click.echo(json_text(doc))


def printable(text: object) -> str:
    """`text` for a terminal: control characters a name or file name may hold (a new line,
    a carriage return, a terminal escape sequence) shown as escapes, so each record stays
    on its line and cannot redraw the screen."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def echo(text: str) -> None:
    """A line on stdout with names, paths and metadata (`printable`) escaped."""
    click.echo(printable(text))


def note(text: str) -> None:
    """A line on stderr: progress, hints, what was cancelled."""
    click.echo(text, err=True)


def short(text: str, width: int = 100) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """End the command with `error: message` on stderr."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def user_errors(fn: F) -> F:
    """Turn a FaceDeskError, a SQLite error or a ValueError into a one-line message and
    exit code 1 (the gallery's path, from the --db option, names a SQLite problem)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DbError as exc:
            fail(sqlite_problem(kwargs.get("db"), exc).message)
        except FaceDeskError as exc:
            fail(exc.message)
        except ValueError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]
