"""The `facedesk` command group: every command module's commands, each with one-line user
errors (facedesk.cli.output.user_errors)."""

from __future__ import annotations

import click

from facedesk import __version__
from facedesk.cli import (
    account_commands,
    audit_commands,
    backup_commands,
    case_commands,
    clip_commands,
    disclose_commands,
    gallery_commands,
    import_commands,
    lab_commands,
    quiz_commands,
    rerun_commands,
    search_commands,
    server_commands,
)
from facedesk.cli.output import user_errors
from facedesk.domain import private


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facedesk")
def cli() -> None:
    """FaceDesk: search a face against a gallery of booking photos.

    Results are ranked CANDIDATES for a trained person to review: investigative leads
    only, never identifications.
    """
    private.set_warn(lambda message: click.echo(message, err=True))


def _register(command: click.Command) -> None:
    """Give `command` (and every sub-command of a group) one-line user errors."""
    if command.callback is not None:
        command.callback = user_errors(command.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _register(sub)


for _command in [import_commands.import_cmd, search_commands.search, gallery_commands.info,
                 gallery_commands.verify, *lab_commands.COMMANDS, *account_commands.COMMANDS,
                 *case_commands.COMMANDS, *audit_commands.COMMANDS, *backup_commands.COMMANDS,
                 *clip_commands.COMMANDS, *rerun_commands.COMMANDS,
                 *disclose_commands.COMMANDS, *quiz_commands.COMMANDS,
                 *server_commands.COMMANDS, gallery_commands.gallery_group]:
    _register(_command)
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="facedesk")
