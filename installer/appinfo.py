"""Names and version of the FaceDesk bundle, from installer/app.toml and pyproject.toml.

    python installer/appinfo.py               # KEY=value lines (for bash: eval "$(...)")
    python installer/appinfo.py --json        # one JSON object (PowerShell: ConvertFrom-Json)
    python installer/appinfo.py version       # one value
    python installer/appinfo.py --render TEMPLATE OUT [KEY=VALUE ...]
        # TEMPLATE with each @KEY@ replaced (keys of app.toml in upper case, VERSION, and
        # the KEY=VALUE pairs given), written to OUT

Standard library only (tomllib, Python 3.11+), so any Python can run it before the
build environment exists.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load(root: Path = ROOT) -> dict[str, Any]:
    app = tomllib.loads((root / "installer" / "app.toml").read_text(encoding="utf-8"))["app"]
    version = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["version"]
    init = (root / "facedesk" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__\s*=\s*"([^"]+)"', init, re.MULTILINE)
    if found is None or found.group(1) != version:
        raise SystemExit(f"appinfo: facedesk/__init__.py has version "
                         f"{found.group(1) if found else '?'}, pyproject.toml {version}: "
                         "make them equal before building")
    info: dict[str, Any] = dict(app)
    info["version"] = version
    # Windows file and product versions need four numbers: 0.1.0 -> 0.1.0.0
    numbers = [int(n) for n in re.findall(r"\d+", version)[:4]]
    info["version_numeric"] = ".".join(str(n) for n in numbers + [0] * (4 - len(numbers)))
    info["root"] = str(root)
    return info


def render(template: Path, out: Path, extra: dict[str, str]) -> None:
    values = {k.upper(): str(v) for k, v in load().items()} | extra
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise SystemExit(f"appinfo: {template}: no value for {', '.join(sorted(set(left)))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--render":
        if len(argv) < 3:
            raise SystemExit("usage: appinfo.py --render TEMPLATE OUT [KEY=VALUE ...]")
        extra = dict(a.split("=", 1) for a in argv[3:])
        render(Path(argv[1]), Path(argv[2]), {k.upper(): v for k, v in extra.items()})
        return 0
    info = load()
    if argv and argv[0] == "--json":
        print(json.dumps(info, indent=2))
    elif argv:
        for key in argv:
            print(info[key])
    else:
        for key, value in info.items():
            print(f"APP_{key.upper()}={shlex.quote(str(value))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
