"""The installed Qt binding survives a long session: PySide6 6.12.0 dropped a reference
to None on every call returning nothing, and Python 3.11 aborted ("deallocating None")
after a few thousand widget updates, which a long import or a day's work easily makes."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import sys
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel()
before = sys.getrefcount(None)
for i in range(30000):
    label.setText(str(i))
    app.processEvents()
print(sys.getrefcount(None) - before)
"""


def test_many_qt_calls_do_not_exhaust_none() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert abs(int(proc.stdout.strip())) < 1000
