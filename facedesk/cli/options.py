"""The options several commands share, each defined once: the gallery (`--db`), the user
who signs in (`--user`), `--json`, `--quiet`, and the face engine's (`--detector`,
`--jitters`, `--upsample`) with `engine_spec`, the engine they choose.

Each is a function returning the click decorator, so that a command may word its help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from facedesk.engine.spec import EngineSpec
from facedesk.store.postgres import has_password, is_server_location

F = TypeVar("F", bound=Callable[..., Any])

PASSWORD_ENV = "FACEDESK_PASSWORD"
NEW_PASSWORD_ENV = "FACEDESK_NEW_PASSWORD"
USER_ENV = "FACEDESK_USER"


class GalleryLocation(click.ParamType[Path | str]):
    """A gallery file's path (a Path), or a gallery on a PostgreSQL server: a
    `postgresql://` URL (a str), whose password comes from ~/.pgpass, PGPASSFILE, a
    service file or PGPASSWORD, never from the command line (where other users and the
    shell's history see it)."""

    name = "PATH|URL"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | str:
        if isinstance(value, Path):
            return value
        text = str(value)
        if not is_server_location(text):
            return click.Path(path_type=Path, dir_okay=False).convert(text, param, ctx)
        if has_password(text):
            self.fail("put the server's password in ~/.pgpass (or PGPASSFILE), a service "
                      "file (postgresql:///?service=NAME) or PGPASSWORD, not in the URL",
                      param, ctx)
        return text


def db_option(help: str = "The gallery: its file (one SQLite file per gallery), or a "
                          "postgresql:// URL of a gallery on a server.",
              ) -> Callable[[F], F]:
    return click.option("--db", "db", required=True, type=GalleryLocation(), help=help)


def user_option() -> Callable[[F], F]:
    return click.option(
        "--user", "user", envvar=USER_ENV, metavar="NAME",
        help=f"Sign in as this FaceDesk user (or set {USER_ENV}); the password is read from "
             f"{PASSWORD_ENV} or asked for. Without it: the user mapped to your OS account.")


def json_option(help: str = "Print JSON.") -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help)


def quiet_option(help: str = "No progress on stderr.") -> Callable[[F], F]:
    return click.option("--quiet", is_flag=True, help=help)


# --- the face engine ------------------------------------------------------------------------


def engine_spec(detector: str, jitters: int) -> EngineSpec:
    """The engine --detector and --jitters choose. Commands call it as
    `options.engine_spec(...)`, so that the tests can put the fake engine here."""
    return EngineSpec(options={"detector": detector, "jitters": jitters})


def detector_option() -> Callable[[F], F]:
    return click.option(
        "--detector", type=click.Choice(["hog", "cnn"]), default="hog", show_default=True,
        help="Face detector: HOG (fast) or dlib's CNN (slower, finds more turned faces).")


def jitters_option() -> Callable[[F], F]:
    return click.option(
        "--jitters", type=click.IntRange(0, 100), default=0, show_default=True,
        help="Re-sample each face this many extra times when encoding (slower, steadier).")


def upsample_option(default: int) -> Callable[[F], F]:
    return click.option(
        "--upsample", type=click.IntRange(0, 4), default=default, show_default=True,
        help="Times the detector doubles the image to find small faces (2 for CCTV stills).")


def detect_max_side_option(default: int) -> Callable[[F], F]:
    return click.option(
        "--detect-max-side", type=click.IntRange(0, 20000), default=default,
        show_default=True, help="Detect on a copy at most this many pixels long.")
