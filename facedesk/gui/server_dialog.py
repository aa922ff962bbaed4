"""File > Connect to a server…: a gallery on a PostgreSQL server, by its URL.

Saved connections are URLs without a password (the window keeps them in its settings). The
password comes from libpq itself (~/.pgpass or PGPASSFILE, a service file) or, when those
do not give it, from the password field: used for this connection only, never saved."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QWidget

from facedesk.gui import widgets as w
from facedesk.store.postgres import is_server_location, public_location, with_password

URL_HINT = "postgresql://user@host/database  or  postgresql:///?service=NAME"


class ServerDialog(w.Dialog):
    """The URL of a gallery on a server (typed, or one of the saved connections) and an
    optional password for this connection."""

    def __init__(self, saved: list[str], parent: QWidget | None = None) -> None:
        super().__init__("serverDialog", "Connect to a server", parent)
        intro = w.wrapped(
            "A gallery shared by several workstations lives in a <b>PostgreSQL</b> database "
            "that an administrator set up. The password comes from <b>~/.pgpass</b> (or "
            "PGPASSFILE) or a <b>service file</b>; type it below only if those do not give "
            "it: it is used for this connection and never saved.")
        self.url_box = QComboBox()
        self.url_box.setObjectName("serverUrlBox")
        self.url_box.setEditable(True)
        self.url_box.addItems(saved)
        self.url_box.setMinimumContentsLength(48)
        line = self.url_box.lineEdit()
        assert line is not None
        line.setPlaceholderText(URL_HINT)
        self.password = w.password_edit("serverPasswordEdit",
                                        "from ~/.pgpass or the service file")
        form = QFormLayout()
        form.addRow("Server URL:", self.url_box)
        form.addRow("Password:", self.password)
        self.error = w.error_label("serverError")
        self.connect_button = w.button("Connect", "connectServerButton", self.check,
                                       default=True)
        w.column(self, intro, form, self.error,
                 w.row(None, w.cancel_button(self), self.connect_button))

    def url(self) -> str:
        return self.url_box.currentText().strip()

    def location(self) -> str:
        """What Gallery.open takes: the URL, with the typed password if any."""
        password = self.password.text()
        return with_password(self.url(), password) if password else self.url()

    def saved_form(self) -> str:
        """What may be saved: the URL without any password."""
        return public_location(self.url())

    def check(self) -> bool:
        if not is_server_location(self.url()):
            w.show_error(self.error, f"a server URL starts with postgresql:// ({URL_HINT})")
            return False
        self.accept()
        return True
