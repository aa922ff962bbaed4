"""Start the desktop application: `facedesk gui [--db GALLERY.db]` or `python -m facedesk`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from facedesk import __version__
from facedesk.core.engines import EngineSpec

ORGANIZATION = "FaceDesk"
APPLICATION = "FaceDesk"


def make_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setStyle("Fusion")
    return app


def no_display() -> bool:
    """On Linux without X11/Wayland, Qt would abort with a cryptic message."""
    env = os.environ
    return (sys.platform.startswith("linux") and not env.get("QT_QPA_PLATFORM")
            and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"))


def run(db: Path | None = None, engine: EngineSpec | None = None) -> int:
    """Open the main window (on `db`, or the most recent gallery) and run the event loop."""
    if no_display():
        print("error: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are "
              "unset); start FaceDesk from a desktop session, under Xvfb (xvfb-run facedesk "
              "gui), or with QT_QPA_PLATFORM=offscreen", file=sys.stderr)
        return 1
    app = make_app()
    from facedesk.gui.main_window import MainWindow

    window = MainWindow(QSettings(), engine=engine)
    window.show()
    if db is not None:
        window.open_gallery(db, create=not db.exists())
    else:
        window.open_last_gallery()
    return app.exec()
