"""The command line's one runner of long work (facedesk/cli/progress.py): every long
command drains its generator through it, so Ctrl-C behaves the same everywhere."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from facedesk.cli.output import EXIT_CANCELLED
from facedesk.cli.progress import StatusLine, run
from facedesk.domain.progress import CancelToken


def _command(steps: list[object], **kwargs: object) -> tuple[click.Command, dict[str, object]]:
    seen: dict[str, object] = {"closed": False, "shown": []}

    def work(cancel: CancelToken) -> Iterator[object]:
        seen["cancel"] = cancel
        try:
            for step in steps:
                if step is KeyboardInterrupt:
                    raise KeyboardInterrupt
                yield step
        finally:
            seen["closed"] = True

    @click.command()
    def cmd() -> None:
        final = run(work, show=seen["shown"].append, **kwargs)  # type: ignore[attr-defined]
        click.echo(f"final {final}")

    return cmd, seen


def test_the_last_event_is_returned_and_each_one_shown() -> None:
    cmd, seen = _command([1, 2, 3])
    res = CliRunner().invoke(cmd)
    assert res.exit_code == 0 and res.output == "final 3\n"
    assert seen["shown"] == [1, 2, 3]


def test_ctrl_c_cancels_the_token_closes_the_work_and_exits_130() -> None:
    kept: list[str] = []
    cmd, seen = _command([1, KeyboardInterrupt, 3], cancelled="\ncancelled: kept 1",
                         on_cancel=lambda: kept.append("json"))
    res = CliRunner().invoke(cmd)
    assert res.exit_code == EXIT_CANCELLED
    assert "cancelled: kept 1" in res.output and "final" not in res.output
    assert kept == ["json"]
    assert seen["closed"] and isinstance(seen["cancel"], CancelToken)
    assert seen["cancel"].cancelled  # type: ignore[attr-defined]


@pytest.mark.parametrize("steps", [[1, "cancelled"], []])
def test_work_that_stops_itself_or_yields_nothing_counts_as_cancelled(steps: list[object]
                                                                      ) -> None:
    cmd, _ = _command(steps, stopped=lambda ev: ev == "cancelled", cancelled="stopped")
    res = CliRunner().invoke(cmd)
    assert res.exit_code == EXIT_CANCELLED and "stopped" in res.output


def test_a_status_line_off_a_terminal_is_a_line_every_few_seconds() -> None:
    @click.command()
    def cmd() -> None:
        line = StatusLine()
        line.show("first")
        line.show("too soon")
        line.show("last", final=True)
        line.note("a note")
        StatusLine(quiet=True).note("never")
        StatusLine(tty_only=True).show("never")

    res = CliRunner().invoke(cmd)
    assert res.output == "first\nlast\na note\n"


def test_a_status_line_with_a_delay_stays_silent_while_the_work_is_quick() -> None:
    @click.command()
    def cmd() -> None:
        line = StatusLine(delay_s=60)
        line.show("quick")
        line.show("done", final=True)

    assert CliRunner().invoke(cmd).output == "done\n"
