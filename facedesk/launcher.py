"""The `facedesk` entry point: the command line plus `facedesk gui`. It sits above both,
so that `facedesk.cli` and `facedesk.gui` never import each other."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from facedesk.cli import cli
from facedesk.cli.options import GalleryLocation
from facedesk.cli.output import fail


@cli.command("gui")
@click.option("--db", "db", type=GalleryLocation(),
              help="Open this gallery, a file or a postgresql:// URL (default: the last one "
                   "used).")
def gui(db: Path | str | None) -> None:
    """Open the investigator's workspace (the desktop application)."""
    try:
        from facedesk.gui.app import run
    except ImportError as exc:
        fail(f"the desktop application needs PySide6 ({exc}); run scripts/setup.sh")
    sys.exit(run(db))


def main(argv: list[str] | None = None, *, gui_by_default: bool = False) -> None:
    args = sys.argv[1:] if argv is None else argv
    if gui_by_default and not args:
        args = ["gui"]
    cli.main(args=args, prog_name="facedesk")
