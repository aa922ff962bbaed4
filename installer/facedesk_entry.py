"""Entry point of the bundled application (PyInstaller runs this script).

`FaceDesk` (FaceDesk.exe, windowed on Windows) opens the desktop application when it is
started without arguments and runs the command line with them (`FaceDesk import ...`);
`facedesk-cli` (a console program on Windows) is the command line only. Both are this
script: the name of the executable decides.

The importer runs its workers as processes started with the "spawn" method: each is this
executable started again, and `multiprocessing.freeze_support()` turns such a start into
a worker instead of a second application. It must come first.
"""

import multiprocessing
import sys
from pathlib import Path

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from facedesk.launcher import main

    cli_only = Path(sys.executable).stem.lower().endswith("-cli")
    main(gui_by_default=not cli_only)
