"""The PySide6 desktop application: a thin layer over facedesk.app. The only package that
imports Qt.

- The window: `main_window` (the investigator's workspace) with its panels `probe_panel`,
  `compare_view`, `candidates_panel`, `decision_panel`, `clip_panel`; `app` starts it.
- Dialogs, one per module: `session_dialogs` (first administrator, sign in, case),
  `import_dialog`, `calibration_dialog`, `backup_dialog`, `first_run`, `about_dialog`,
  `trainer_view` (its wording in `lab_wording`, its plots in `figures`), and `admin/`
  (second review, case overview, users, settings, audit log, retention, on the shared
  `admin.base.AdminDialog`).
- Shared helpers: `widgets` (Dialog, buttons, rows and columns, wrapped labels, error
  lines), `tables` (read-only tables of keyed rows), `images` (arrays and image bytes to
  QImage/QPixmap, face crops), `styles` (the error red, hint grey), `formatting` (times and
  plurals; durations and percentages are in facedesk.domain.formatting), `elided_label`,
  `sizing`, `resources` (icons, theme), `workers` (background work).
- `workspace`: the window's state without Qt (gallery, session, case, probe, search) and
  its change listeners.
"""
