"""The window's few text colours, as style sheets: one red for every error, one green for
"intact", one grey for hints."""

from __future__ import annotations

ERROR_COLOUR = "#b00020"
#: an error line (dialogs' inline errors, a failed step, a broken audit log)
ERROR_STYLE = f"color: {ERROR_COLOUR};"
#: an error that must stand out: the sign-in and case dialogs' error line
BOLD_ERROR_STYLE = f"QLabel {{ color: {ERROR_COLOUR}; font-weight: bold; }}"
OK_STYLE = "color: #1e7e34;"
HINT_STYLE = "color: #6c757d;"
#: a quiet note in place of a plot or beside a figure
NOTE_STYLE = "color: palette(placeholder-text);"
