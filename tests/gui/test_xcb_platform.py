"""The desktop application starts on a real X server through Qt's xcb platform plugin, as
`facedesk gui` does on a desktop. The offscreen platform the other GUI tests use needs no
X11 library at all, so only this run finds a library the plugin cannot load
("Could not load the Qt platform plugin xcb"): scripts/test.sh runs the GUI tests once
more under Xvfb, where DISPLAY is set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = """
import sys
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
w = QMainWindow()
w.resize(640, 480)
w.show()
app.processEvents()
print(app.platformName(), w.isVisible())
"""


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X server (DISPLAY unset): "
                    "scripts/test.sh runs this under Xvfb")
def test_xcb_platform_plugin_loads_and_shows_a_window() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "QT_DEBUG_PLUGINS": "1"}
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          env=env, timeout=120)
    missing = [line for line in proc.stderr.splitlines()
               if "cannot open shared object" in line or "Could not load" in line]
    assert proc.returncode == 0, "\n".join(missing) or proc.stderr[-2000:]
    assert proc.stdout.split()[:2] == ["xcb", "True"], proc.stdout
