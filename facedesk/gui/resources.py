"""Icons, the application icon and the style sheets of the desktop application.

They are files of the package ``facedesk.resources`` (the repository's top-level
``resources/`` folder, mapped into the package by pyproject.toml), read with
importlib.resources, so they load the same way from a source checkout, an installed
wheel and the PyInstaller bundle.

The line icons are drawn in ``currentColor``; each is recoloured for the light or the
dark palette (and a dimmer colour for disabled actions) and rendered with QtSvg, so they
need neither an icon theme nor Qt's SVG icon-engine plugin.
"""

from __future__ import annotations

import functools
from importlib import resources as importlib_resources
from importlib.resources.abc import Traversable
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

PACKAGE = "facedesk.resources"
APP_ICON = "facedesk"
#: pixel sizes rendered into each icon (menus 16, tool bars 24, high-DPI 32/48)
ICON_SIZES = (16, 20, 24, 32, 48)
APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)

#: stroke colour of the line icons on a light and on a dark palette
ICON_COLORS = {False: "#37474f", True: "#d5dbe3"}
DISABLED_COLORS = {False: "#a7b0b8", True: "#676c73"}

#: the icon of each action of the main window, by attribute name
ACTION_ICONS: dict[str, str] = {
    "act_new": "gallery-new",
    "act_open": "gallery-open",
    "act_import": "import",
    "act_info": "info",
    "act_probe": "probe-open",
    "act_paste": "paste",
    "act_quit": "quit",
    "act_search": "search",
    "act_next": "next",
    "act_prev": "previous",
    "act_blind": "blind-review",
    "act_zoom_in": "zoom-in",
    "act_zoom_out": "zoom-out",
    "act_fit": "fit",
    "act_landmarks": "landmarks",
    "act_side": "side-by-side",
    "act_blend": "blend",
    "act_flicker": "flicker",
    "act_dark": "dark-palette",
    "act_about": "about",
    "act_trainer": "trainer",
    "act_calibration": "calibration",
}


def _root() -> Traversable:
    return importlib_resources.files(PACKAGE)


def icon_names() -> list[str]:
    """Names of the line icons (without the application icon)."""
    folder = _root().joinpath("icons")
    return sorted(Path(e.name).stem for e in folder.iterdir()
                  if e.name.endswith(".svg") and Path(e.name).stem != APP_ICON)


def svg_source(name: str) -> str:
    """The SVG text of icon `name` (e.g. "search", or "facedesk" for the app icon)."""
    entry = _root().joinpath("icons", f"{name}.svg")
    if not entry.is_file():
        raise KeyError(f"no icon {name!r} in {PACKAGE} (there are: "
                       f"{', '.join(icon_names())})")
    return entry.read_text(encoding="utf-8")


def render_svg(svg: str, size: int) -> QImage:
    """`svg` drawn on a transparent `size` x `size` image."""
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("not a valid SVG image")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def palette_is_dark(palette: QPalette | None = None) -> bool:
    """Whether `palette` (default: the application's) has a dark window colour."""
    if palette is None:
        palette = QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


@functools.cache
def _icon(name: str, dark: bool) -> QIcon:
    svg = svg_source(name)
    result = QIcon()
    for colors, mode in ((ICON_COLORS, QIcon.Mode.Normal),
                         (DISABLED_COLORS, QIcon.Mode.Disabled)):
        coloured = svg.replace("currentColor", colors[dark])
        for size in ICON_SIZES:
            result.addPixmap(QPixmap.fromImage(render_svg(coloured, size)), mode)
    return result


def icon(name: str, dark: bool | None = None) -> QIcon:
    """Line icon `name` coloured for the dark or light palette (None: the application's
    current palette). Raises KeyError for an unknown name."""
    return QIcon(_icon(name, palette_is_dark() if dark is None else dark))


@functools.cache
def _app_icon() -> QIcon:
    svg = svg_source(APP_ICON)
    result = QIcon()
    for size in APP_ICON_SIZES:
        result.addPixmap(QPixmap.fromImage(render_svg(svg, size)))
    return result


def app_icon() -> QIcon:
    """The FaceDesk application icon (window and task bar)."""
    return QIcon(_app_icon())


def stylesheet(dark: bool) -> str:
    """The application style sheet for the dark or the light palette."""
    styles = _root().joinpath("styles")
    variant = "dark" if dark else "light"
    return "\n".join(styles.joinpath(f"{part}.qss").read_text(encoding="utf-8")
                     for part in ("common", variant))


def set_action_icons(owner: object, dark: bool | None = None) -> int:
    """Give each action of ACTION_ICONS that `owner` (the main window) has its icon;
    returns how many were set."""
    done = 0
    for attribute, name in ACTION_ICONS.items():
        action = getattr(owner, attribute, None)
        if isinstance(action, QAction):
            action.setIcon(icon(name, dark))
            done += 1
    return done


def apply_theme(dark: bool, owner: object | None = None) -> None:
    """Load the style sheet for the palette into the application and, when `owner` is
    given, recolour its action icons. Call it after the palette itself is set."""
    app = QGuiApplication.instance()
    if app is not None and hasattr(app, "setStyleSheet"):
        app.setStyleSheet(stylesheet(dark))
    if owner is not None:
        set_action_icons(owner, dark)
