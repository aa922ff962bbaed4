"""The PySide6 desktop application: a thin layer over facedesk.app. The only package that
imports Qt."""
