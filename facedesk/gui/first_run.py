"""The first-run screen: shown once, at the first start with no gallery.

It says in a few lines what FaceDesk does and does not do (a candidate is an
investigative lead only; a person decides) and offers to

- create a gallery (a file chooser that starts in the user's data folder),
- try the workflow on a folder of photos the user picks (a gallery is created in the
  data folder and the import dialog opens on that folder),
- open an existing gallery, or
- carry on without one.

The dialog only returns the choice (`FirstRunDialog.choice`); `apply_choice` carries it
out on the workspace through its public methods (`open_gallery`, `import_dialog`), and
`offer_first_run` does both, without blocking the event loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import platformdirs
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from facedesk.gui.about_dialog import PRINCIPLE
from facedesk.gui.resources import app_icon, icon
from facedesk.gui.widgets import Dialog

if TYPE_CHECKING:
    from facedesk.gui.import_dialog import ImportDialog

APP_NAME = "FaceDesk"
#: QSettings key set once the first-run screen has been shown
SETTINGS_KEY = "first_run/done"
#: width of the screen, in pixels
WIDTH = 720
GALLERY_FILTER = "FaceDesk gallery (*.db *.sqlite *.facedesk);;All files (*)"

Action = Literal["create", "sample", "open", "later"]

DOES = (
    "Imports a gallery of booking photos into one file, keeping the originals where "
    "they are.",
    "Searches a probe still against every gallery face and lists <b>candidates</b>, with "
    "how often <i>different</i> people score that close and how many look-alikes to "
    "expect in a gallery of this size.",
    "Shows probe and candidate side by side for a feature-by-feature comparison.",
    "Records a result only when a reviewer decides, with the reviewer's name and a "
    "rationale.",
)
DOES_NOT = (
    "It does not identify anyone: every gallery has look-alikes, and the closest "
    "candidate is often someone else.",
    "A score is not a probability that a candidate is the person, and it is never "
    "probable cause.",
    "It sends nothing anywhere: photos, galleries and searches stay on this computer.",
)


@dataclass(frozen=True)
class FirstRunChoice:
    """What the user chose: `gallery` is the file to create or open; `folder` the photos
    for the sample workflow."""

    action: Action
    gallery: Path | None = None
    folder: Path | None = None


def default_gallery_dir() -> Path:
    """Where the first-run screen proposes to keep galleries: the platform's per-user
    data folder (~/.local/share/FaceDesk/galleries, %LOCALAPPDATA%\\FaceDesk\\galleries,
    ~/Library/Application Support/FaceDesk/galleries)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "galleries"


def unused_path(folder: Path, stem: str, suffix: str = ".db") -> Path:
    """`folder/stem.db`, or `stem-2.db`, `stem-3.db`... if taken (never an existing file)."""
    stem = re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "gallery"
    candidate = folder / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def should_offer(settings: QSettings, has_gallery: bool) -> bool:
    """At start-up with no gallery, unless the screen was shown before."""
    return not has_gallery and not settings.value(SETTINGS_KEY, False, type=bool)


def mark_done(settings: QSettings) -> None:
    settings.setValue(SETTINGS_KEY, True)
    settings.sync()


def _bullets(items: tuple[str, ...]) -> str:
    return "<ul style='margin-left: -20px'>" + "".join(f"<li>{t}</li>" for t in items) + \
        "</ul>"


class FirstRunDialog(Dialog):
    """The welcome screen. After it closes, `choice` holds what the user picked
    ("later" when closed without a choice). The file choosers are methods so that
    tests can answer them."""

    def __init__(self, parent: QWidget | None = None, *,
                 gallery_dir: Path | None = None) -> None:
        super().__init__("firstRunDialog", "Welcome to FaceDesk", parent)
        self.setWindowIcon(app_icon())
        self.gallery_dir = gallery_dir or default_gallery_dir()
        self.choice = FirstRunChoice("later")

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(56, 56))
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel("Welcome to FaceDesk")
        title.setObjectName("firstRunTitle")
        head.addWidget(title, 1, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(head)

        self.principle = QLabel(PRINCIPLE + " A person compares and decides; FaceDesk "
                                "only narrows the search.")
        self.principle.setObjectName("principleLabel")
        self.principle.setWordWrap(True)
        layout.addWidget(self.principle)

        self.explanation = QLabel(
            "<b>What FaceDesk does</b>" + _bullets(DOES) +
            "<b>What it does not do</b>" + _bullets(DOES_NOT))
        self.explanation.setObjectName("firstRunExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.explanation)

        where = QLabel(f"New galleries are proposed in {self.gallery_dir}; you can keep "
                       "them anywhere. An existing gallery file is opened, never "
                       "overwritten.")
        where.setObjectName("firstRunWhere")
        where.setWordWrap(True)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(where)

        buttons = QHBoxLayout()
        self.create_button = QPushButton(icon("gallery-new"), "Create a gallery…")
        self.create_button.setObjectName("firstRunCreate")
        self.create_button.setToolTip("Choose where to keep a new, empty gallery file")
        self.create_button.clicked.connect(self._create)
        self.sample_button = QPushButton(icon("import"), "Try it on a folder of photos…")
        self.sample_button.setObjectName("firstRunSample")
        self.sample_button.setToolTip(
            "Pick a folder of photos (one sub-folder per person, or one photo per person): "
            "FaceDesk creates a gallery for it and opens the import dialog")
        self.sample_button.clicked.connect(self._sample)
        self.open_button = QPushButton(icon("gallery-open"), "Open a gallery…")
        self.open_button.setObjectName("firstRunOpen")
        self.open_button.clicked.connect(self._open)
        self.later_button = QPushButton("Not now")
        self.later_button.setObjectName("firstRunLater")
        self.later_button.setToolTip("File > New gallery and File > Open gallery do the same "
                                     "later")
        self.later_button.clicked.connect(self.reject)
        for b in (self.create_button, self.sample_button, self.open_button):
            b.setAutoDefault(False)
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.later_button)
        layout.addLayout(buttons)
        self.sample_button.setDefault(True)
        # the word-wrapped texts need the height that goes with the width: a window
        # manager does not always ask for it, and without one the lists were cut off
        self.setMinimumWidth(WIDTH)
        self.resize(WIDTH, self.layout().totalHeightForWidth(WIDTH))

    # -- the file choosers (replaced in tests) ----------------------------------------------

    def ask_new_gallery(self, proposed: Path) -> Path | None:
        proposed.parent.mkdir(parents=True, exist_ok=True)
        path, _ = QFileDialog.getSaveFileName(
            self, "Create a gallery", str(proposed), GALLERY_FILTER,
            options=QFileDialog.Option.DontConfirmOverwrite)
        return Path(path) if path else None

    def ask_photo_folder(self) -> Path | None:
        path = QFileDialog.getExistingDirectory(self, "A folder of photos to try FaceDesk on",
                                                str(Path.home()))
        return Path(path) if path else None

    def ask_existing_gallery(self) -> Path | None:
        start = self.gallery_dir if self.gallery_dir.is_dir() else Path.home()
        path, _ = QFileDialog.getOpenFileName(self, "Open a gallery", str(start),
                                              GALLERY_FILTER)
        return Path(path) if path else None

    # -- the choices ----------------------------------------------------------------------

    def _finish(self, choice: FirstRunChoice) -> None:
        self.choice = choice
        self.accept()

    def _create(self) -> None:
        path = self.ask_new_gallery(unused_path(self.gallery_dir, "gallery"))
        if path is not None:
            self._finish(FirstRunChoice("create", gallery=path))

    def _sample(self) -> None:
        folder = self.ask_photo_folder()
        if folder is not None:
            gallery = unused_path(self.gallery_dir, folder.name or "sample")
            self._finish(FirstRunChoice("sample", gallery=gallery, folder=folder))

    def _open(self) -> None:
        path = self.ask_existing_gallery()
        if path is not None:
            self._finish(FirstRunChoice("open", gallery=path))

    def reject(self) -> None:
        self.choice = FirstRunChoice("later")
        super().reject()


class Workspace(Protocol):
    """What `apply_choice` needs of the main window."""

    def open_gallery(self, path: Path, create: bool = False) -> bool: ...

    def import_dialog(self) -> ImportDialog | None: ...


def apply_choice(window: Workspace, choice: FirstRunChoice) -> ImportDialog | None:
    """Carry out `choice` on the workspace. Returns the import dialog of the sample
    workflow (already showing the chosen folder), else None."""
    if choice.action == "later" or choice.gallery is None:
        return None
    gallery = choice.gallery
    if choice.action in ("create", "sample"):
        gallery.parent.mkdir(parents=True, exist_ok=True)
        # an existing file is opened as it is: a gallery is never overwritten here
        if not window.open_gallery(gallery, create=not gallery.exists()):
            return None
    elif not window.open_gallery(gallery):
        return None
    if choice.action != "sample" or choice.folder is None:
        return None
    dialog = window.import_dialog()
    if dialog is not None:
        dialog.folder_radio.setChecked(True)
        dialog.folder_edit.setText(str(choice.folder))
    return dialog


def offer_first_run(window: QWidget, settings: QSettings, *, has_gallery: bool,
                    gallery_dir: Path | None = None) -> FirstRunDialog | None:
    """Show the first-run screen over `window` (window-modal, not blocking) when
    `should_offer`; its choice is carried out on `window` when it closes. Returns the
    dialog, or None when it is not due."""
    if not should_offer(settings, has_gallery):
        return None
    mark_done(settings)
    return show_first_run(window, gallery_dir=gallery_dir)


def show_first_run(window: QWidget, *, gallery_dir: Path | None = None) -> FirstRunDialog:
    """The first-run screen on demand (e.g. Help > Getting started)."""
    dialog = FirstRunDialog(window, gallery_dir=gallery_dir)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def done(_code: int) -> None:
        apply_choice(window, dialog.choice)  # type: ignore[arg-type]

    dialog.finished.connect(done)
    dialog.open()
    return dialog
