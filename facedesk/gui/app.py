"""Start the desktop application: `facedesk gui [--db GALLERY.db]` or `python -m facedesk`."""

from __future__ import annotations

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


def run(db: Path | None = None, engine: EngineSpec | None = None) -> int:
    """Open the main window (on `db`, or the most recent gallery) and run the event loop."""
    app = make_app()
    from facedesk.gui.main_window import MainWindow

    window = MainWindow(QSettings(), engine=engine)
    window.show()
    if db is not None:
        window.open_gallery(db, create=not db.exists())
    else:
        window.open_last_gallery()
    return app.exec()
