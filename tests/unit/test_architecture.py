"""The boundaries of DESIGN.md, checked on the source (import-linter checks them too):
Qt only in facedesk.gui, dlib only in facedesk.engine.dlib_engine, the layers gui | cli ->
app -> store | engine -> domain (nothing imports upwards), cli and gui never import each
other; and the CLI starts without loading dlib or Qt."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "facedesk"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules() -> dict[str, set[str]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = imports_of(path)
    return out


#: each layer and the packages above it, which it must not import
LAYERS_ABOVE = {
    "facedesk.app": ("facedesk.gui", "facedesk.cli"),
    "facedesk.store": ("facedesk.app", "facedesk.engine", "facedesk.gui", "facedesk.cli"),
    "facedesk.engine": ("facedesk.app", "facedesk.store", "facedesk.gui", "facedesk.cli"),
    "facedesk.domain": ("facedesk.app", "facedesk.store", "facedesk.engine", "facedesk.gui",
                        "facedesk.cli"),
}


def top(name: str) -> str:
    return name.split(".")[0]


def test_boundaries() -> None:
    mods = modules()
    assert "facedesk.engine.dlib_engine" in mods and "facedesk.store.gallery" in mods
    broken = []
    for mod, imps in mods.items():
        for imp in imps:
            if top(imp) in ("PySide6", "shiboken6") and not mod.startswith("facedesk.gui"):
                broken.append(f"{mod} imports {imp} (Qt only in facedesk.gui)")
            if top(imp) in ("dlib", "face_recognition", "face_recognition_models") \
                    and mod != "facedesk.engine.dlib_engine":
                broken.append(f"{mod} imports {imp} (dlib only in facedesk.engine.dlib_engine)")
            for layer, above in LAYERS_ABOVE.items():
                if mod.startswith(layer) and imp.startswith(above):
                    broken.append(f"{mod} imports {imp} (a layer imports only layers below it)")
            if mod.startswith("facedesk.cli") and imp.startswith("facedesk.gui"):
                broken.append(f"{mod} imports {imp}")
            if mod.startswith("facedesk.gui") and imp.startswith("facedesk.cli"):
                broken.append(f"{mod} imports {imp}")
    assert broken == []


def test_cli_starts_without_dlib_or_qt() -> None:
    code = ("import sys, facedesk.cli, facedesk.app.search, facedesk.app.importer;"
            "print(sorted(m for m in ('dlib', 'PySide6', 'face_recognition_models') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
