"""The real engine on the window's engine thread, several probes one after another.

dlib's first use on the GUI's engine thread (a Qt thread), then a second probe: reading
an encoding with `np.asarray(dlib.vector)` made dlib raise IndexError through pybind11 at
the end of the vector, which took the interpreter lock a second time and hung the whole
process (seen with Tony_Blair_0006 then John_Ashcroft_0001). A hang cannot be caught
inside the process, so the window runs in a child process with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROBES = ("Tony_Blair:5", "John_Ashcroft:0", "Tony_Blair:7")

CHILD = textwrap.dedent("""
    import sys, tempfile, time
    from pathlib import Path
    from PySide6.QtCore import QSettings
    from facedesk.gui.app import make_app
    from facedesk.gui.main_window import MainWindow


    def main():  # guarded: the engine process (spawned) imports this module again
        app = make_app()
        folder = tempfile.mkdtemp()
        w = MainWindow(QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
        w.show()
        lfw = Path(sys.argv[1])
        for name in sys.argv[2:]:
            person, k = name.split(":")
            w.probe = None
            w.load_probe(sorted((lfw / person).glob("*.jpg"))[int(k)])
            end = time.monotonic() + 60
            while time.monotonic() < end and (w.probe is None or w.busy_bar.isVisible()):
                app.processEvents()
                time.sleep(0.01)
            done = w.probe is not None and not w.busy_bar.isVisible()
            print(name, "analysed" if done else "not analysed",
                  len(w.probe.faces) if done else 0, flush=True)
        w.close()


    if __name__ == "__main__":
        main()
""")


def test_probes_one_after_another_on_the_engine_thread(lfw_images: Path,
                                                      tmp_path: Path) -> None:
    script = tmp_path / "probes.py"
    script.write_text(CHILD)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        proc = subprocess.run([sys.executable, str(script), str(lfw_images), *PROBES],
                              capture_output=True, text=True, env=env, timeout=150)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the window hung analysing probes one after another: "
                             f"{exc.stdout!r}") from None
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    for name in PROBES:
        assert any(line.startswith(f"{name} analysed ") and not line.endswith(" 0")
                   for line in lines), proc.stdout
