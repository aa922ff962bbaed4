"""The `facedesk` command line: a thin layer over facedesk.app, one module per group of
commands and a few shared ones.

    main.py              the `facedesk` group; registers every command below
    import_commands.py   import
    search_commands.py   search (photos and video clips)
    gallery_commands.py  info, verify (the originals)
    clip_commands.py     frames, and a clip's probe for search
    lab_commands.py      evaluate, experiment, calibrate, report (the accuracy lab)
    account_commands.py  users, settings, import-roots
    case_commands.py     case, decide, leads, lead-sheet, retention
    audit_commands.py    audit (verify, verify-export, export, baseline, show)
    backup_commands.py   backup, restore

    options.py   the shared options (--db, --user, --json, --quiet, the engine's)
    output.py    JSON output, terminal-safe text, exit codes, one-line user errors
    signin.py    signing in (password, prompt or OS account) and the open case
    progress.py  the one runner of long work: progress on stderr, Ctrl-C cancels (exit 130)

`--json` prints one JSON document on stdout; progress goes to stderr. User errors end
with a one-line message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

from facedesk.cli.main import cli, main

__all__ = ["cli", "main"]
