"""The PySide6 desktop application: a thin layer over facedesk.core. The only package that
imports Qt."""
