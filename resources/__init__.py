"""FaceDesk's icons and style sheets, importable as ``facedesk.resources``.

This folder (``resources/`` at the top of the repository) is the single source of these
files: ``pyproject.toml`` maps it into the package as ``facedesk.resources``
(``[tool.setuptools.package-dir]``), so an editable install, a wheel and the PyInstaller
bundle (``installer/facedesk.spec``) all load the same files through
``importlib.resources``; ``facedesk/gui/resources.py`` is the only reader.

- ``icons/*.svg``: 24 x 24 line icons drawn with ``currentColor`` (recoloured for the
  light and dark palettes when loaded) and ``facedesk.svg``, the application icon, which
  the installers also render to .png and .ico.
- ``styles/*.qss``: Qt style sheets: ``common.qss`` plus ``light.qss`` or ``dark.qss``.
"""
