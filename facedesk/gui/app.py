"""Start the desktop application: `facedesk gui [--db GALLERY.db]` or `python -m facedesk`.

Environment variables for checks and demonstrations (the bundle's smoke test uses them):

- FACEDESK_SCREENSHOT=FILE.png: once the main window is shown (and its gallery opened),
  save a picture of it to FILE.png, close the window and quit (exit code 1 when the
  picture cannot be saved). Stderr gets "facedesk: main window shown at <epoch seconds>"
  and "facedesk: screenshot saved to FILE.png", so a script can time the start-up (a
  windowed Windows executable has no stderr: the lines go to FILE.png.log instead).
- FACEDESK_SCREENSHOT_DELAY_MS: how long to wait after the window is shown (default 1500).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from facedesk import __version__
from facedesk.engine.spec import EngineSpec
from facedesk.gui import resources

ORGANIZATION = "FaceDesk"
APPLICATION = "FaceDesk"
#: the .desktop entry's name (Linux), so that Wayland shells show the right icon
DESKTOP_FILE = "facedesk"
SCREENSHOT_ENV = "FACEDESK_SCREENSHOT"
SCREENSHOT_DELAY_ENV = "FACEDESK_SCREENSHOT_DELAY_MS"


def make_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(DESKTOP_FILE)
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setStyle("Fusion")
    app.setWindowIcon(resources.app_icon())
    # the main window sets the palette itself and reloads the sheet when it changes
    app.setStyleSheet(resources.stylesheet(
        QSettings().value("dark_palette", False, type=bool)))
    return app


def no_display() -> bool:
    """On Linux without X11/Wayland, Qt would abort with a cryptic message."""
    env = os.environ
    return (sys.platform.startswith("linux") and not env.get("QT_QPA_PLATFORM")
            and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"))


def schedule_screenshot(window: QWidget, target: Path, delay_ms: int = 1500,
                        quit_app: Callable[[int], None] = QCoreApplication.exit) -> None:
    """Report when `window` is shown, then after `delay_ms` save a picture of it to
    `target`, close it and quit the application: `quit_app(0)`, or `quit_app(1)` when
    the picture could not be saved."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def report(line: str) -> None:
        if sys.stderr is not None:
            print(f"facedesk: {line}", file=sys.stderr, flush=True)
        else:  # a windowed executable (FaceDesk.exe) has no stderr
            with open(f"{target}.log", "a", encoding="utf-8") as log:
                log.write(f"facedesk: {line}\n")

    def shown() -> None:
        report(f"main window shown at {time.time():.3f}")
        QTimer.singleShot(delay_ms, grab)

    def grab() -> None:
        ok = window.grab().save(str(target), "PNG")
        report(f"screenshot {'saved to' if ok else 'could not be saved to'} {target}")
        window.close()
        quit_app(0 if ok else 1)

    QTimer.singleShot(0, shown)  # the first turn of the event loop after show()


def run(db: Path | str | None = None, engine: EngineSpec | None = None) -> int:
    """Open the main window (on `db`, or the most recent gallery) and run the event loop."""
    if no_display():
        print("error: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are "
              "unset); start FaceDesk from a desktop session, under Xvfb (xvfb-run facedesk "
              "gui), or with QT_QPA_PLATFORM=offscreen", file=sys.stderr)
        return 1
    app = make_app()
    from facedesk.gui.first_run import offer_first_run
    from facedesk.gui.main_window import MainWindow
    from facedesk.gui.tasks import tasks

    # the one registry of running work: when the event loop ends (the last window
    # closed, or Quit), it cancels what still runs and waits for it
    tasks()

    settings = QSettings()
    window = MainWindow(settings, engine=engine)
    window.show()
    if db is not None:
        # a server's database is made a gallery when empty, as a missing file is
        window.open_gallery(db, create=isinstance(db, str) or not db.exists())
    else:
        window.open_last_gallery()
    screenshot = os.environ.get(SCREENSHOT_ENV)
    if screenshot:
        delay = int(os.environ.get(SCREENSHOT_DELAY_ENV, "1500"))
        schedule_screenshot(window, Path(screenshot), delay)
    else:
        # first start with no gallery: what FaceDesk does and does not do, and a start
        offer_first_run(window, settings, has_gallery=window.gallery is not None)
    return app.exec()
