"""Render the application icon (resources/icons/facedesk.svg) for the installers:
PNGs for Linux desktops (hicolor sizes) and a multi-size .ico for Windows.

    python installer/render_icons.py OUT_DIR

Writes OUT_DIR/facedesk-<size>.png for each size, OUT_DIR/facedesk.png (256),
OUT_DIR/facedesk.svg (a copy) and OUT_DIR/facedesk.ico. Needs PySide6 (QtSvg) and
Pillow, both FaceDesk dependencies; runs without a display.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    from facedesk.gui.resources import APP_ICON, render_svg, svg_source

    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (keeps Qt alive)
    svg = svg_source(APP_ICON)
    (out / "facedesk.svg").write_text(svg, encoding="utf-8")
    for size in PNG_SIZES:
        if not render_svg(svg, size).save(str(out / f"facedesk-{size}.png"), "PNG"):
            print(f"render_icons: cannot write {out}/facedesk-{size}.png", file=sys.stderr)
            return 1
    shutil.copyfile(out / "facedesk-256.png", out / "facedesk.png")
    # each size drawn from the SVG (sharper than scaling the 256 px one down)
    images = [Image.open(out / f"facedesk-{s}.png") for s in ICO_SIZES]
    images[-1].save(out / "facedesk.ico", sizes=[(s, s) for s in ICO_SIZES],
                    append_images=images[:-1])
    for image in images:
        image.close()
    print(f"render_icons: {out}: facedesk.svg, .png ({', '.join(map(str, PNG_SIZES))}), .ico")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
