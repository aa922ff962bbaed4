"""The administrator's users page: add, change role, activate or deactivate, password,
OS account, unlock."""

from __future__ import annotations

import html

from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from facedesk.app import accounts
from facedesk.app.accounts import ROLES, Session, User
from facedesk.errors import AccountError
from facedesk.gui.admin.base import AdminDialog, quietly
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.tables import fill_table, make_table, paint_row, select_key, selected_key
from facedesk.gui.widgets import button, column, wrapped


class UsersDialog(AdminDialog):
    """The gallery's users: add, change role, activate or deactivate, password, OS account,
    and unlock a user locked after failed sign-ins."""

    COLUMNS = ("User", "Name", "Role", "Active", "Password", "OS account", "Sign-in")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, "usersDialog", "Users", parent)

        self.table = make_table(self.COLUMNS, "usersTable")
        self.table.itemSelectionChanged.connect(self._selection_changed)

        add_box = QGroupBox("Add a user")
        self.id_edit = QLineEdit(objectName="newUserId", placeholderText="e.g. jdoe")
        self.name_edit = QLineEdit(objectName="newUserName", placeholderText="Full name")
        self.role_combo = self._role_combo("newUserRole")
        self.password_edit = self._password("newUserPassword")
        self.password_again_edit = self._password("newUserPasswordAgain")
        self.os_edit = QLineEdit(objectName="newUserOsAccount",
                                 placeholderText="optional: signs in without a password")
        self.add_button = button("Add user", "addUserButton", lambda: quietly(self._add_clicked))
        add_form = QFormLayout(add_box)
        add_form.addRow("User name:", self.id_edit)
        add_form.addRow("Full name:", self.name_edit)
        add_form.addRow("Role:", self.role_combo)
        add_form.addRow("Password:", self.password_edit)
        add_form.addRow("Password again:", self.password_again_edit)
        add_form.addRow("OS account:", self.os_edit)
        add_form.addRow("", self.add_button)

        self.change_box = QGroupBox("Selected user")
        self.selected_label = wrapped(name="selectedUser")
        self.change_role_combo = self._role_combo("changeRole")
        self.change_role_button = button("Change role", "changeRoleButton",
                                         lambda: quietly(self._change_role_clicked))
        self.active_button = button("Deactivate", "activeButton",
                                    lambda: quietly(self._active_clicked))
        self.new_password_edit = self._password("setPassword")
        self.new_password_again_edit = self._password("setPasswordAgain")
        self.password_button = button("Set password", "setPasswordButton",
                                      lambda: quietly(self._password_clicked))
        self.map_os_edit = QLineEdit(objectName="mapOsAccount",
                                     placeholderText="empty: remove the mapping")
        self.map_os_button = button("Map OS account", "mapOsButton",
                                    lambda: quietly(self._map_clicked))
        self.unlock_button = button("Unlock sign-in", "unlockButton",
                                    lambda: quietly(self._unlock_clicked))
        grid = QGridLayout(self.change_box)
        grid.addWidget(self.selected_label, 0, 0, 1, 3)
        grid.addWidget(QLabel("Role:"), 1, 0)
        grid.addWidget(self.change_role_combo, 1, 1)
        grid.addWidget(self.change_role_button, 1, 2)
        grid.addWidget(QLabel("Password:"), 2, 0)
        grid.addWidget(self.new_password_edit, 2, 1)
        grid.addWidget(QLabel("Password again:"), 3, 0)
        grid.addWidget(self.new_password_again_edit, 3, 1)
        grid.addWidget(self.password_button, 3, 2)
        grid.addWidget(QLabel("OS account:"), 4, 0)
        grid.addWidget(self.map_os_edit, 4, 1)
        grid.addWidget(self.map_os_button, 4, 2)
        grid.addWidget(self.unlock_button, 5, 1)
        grid.addWidget(self.active_button, 5, 2)

        forms = QHBoxLayout()
        forms.addWidget(add_box, 1)
        forms.addWidget(self.change_box, 1)
        bottom = self.closing_row((self.status_label, 1))
        column(self, (self.table, 1), forms, self.error_label, bottom)
        fit_to_screen(self, 900, 620)
        self.refresh()

    @staticmethod
    def _role_combo(name: str) -> QComboBox:
        combo = QComboBox(objectName=name)
        for key, label in ROLES.items():
            combo.addItem(label, key)
        return combo

    @staticmethod
    def _password(name: str) -> QLineEdit:
        edit = QLineEdit(objectName=name)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText(f"at least {accounts.MIN_PASSWORD} characters, hard to guess")
        return edit

    def refresh(self) -> None:
        selected = selected_key(self.table)
        listed = accounts.users(self.gallery)
        self.locked = accounts.locked_users(self.gallery)
        rows = [(u.id, (u.id, u.display_name, u.role_label, "yes" if u.active else "no",
                        "yes" if u.has_password else "no", u.os_account or "",
                        f"locked ({self.locked[u.id].failures} failures)"
                        if u.id in self.locked else ""))
                for u in listed]
        fill_table(self.table, rows)
        for r, u in enumerate(listed):
            if not u.active:
                paint_row(self.table, r, QColor("#e2e3e5"))
        if selected is not None:
            with QSignalBlocker(self.table):
                select_key(self.table, selected)
        self._selection_changed()

    def selected_user(self) -> User | None:
        key = selected_key(self.table)
        return None if key is None else accounts.user(self.gallery, str(key))

    def select_user(self, user_id: str) -> None:
        select_key(self.table, user_id)

    def _selection_changed(self) -> None:
        u = self.selected_user()
        may = self.session.may("manage_users")
        self.allow(self.add_button, "manage_users")
        for w in (self.id_edit, self.name_edit, self.role_combo, self.password_edit,
                  self.password_again_edit, self.os_edit):
            w.setEnabled(may)
        self.selected_label.setText("Select a user in the list to change them." if u is None
                                    else f"<b>{html.escape(u.label)}</b>"
                                    + ("" if u.active else " — deactivated"))
        for w in (self.change_role_combo, self.new_password_edit,
                  self.new_password_again_edit, self.map_os_edit):
            w.setEnabled(may and u is not None)
        why = "Select a user in the list first."
        for b in (self.change_role_button, self.active_button, self.password_button,
                  self.map_os_button):
            self.allow(b, "manage_users", u is not None, why)
        failed = u is not None and accounts.failure_state(self.gallery, u.id).failures > 0
        self.allow(self.unlock_button, "manage_users", failed,
                   why if u is None else "This user has no failed sign-ins to lift.")
        if u is not None:
            self.change_role_combo.setCurrentIndex(self.change_role_combo.findData(u.role))
            self.active_button.setText("Deactivate" if u.active else "Activate")
            self.map_os_edit.setText(u.os_account or "")
        else:
            self.active_button.setText("Deactivate")

    def _done(self, u: User, what: str) -> User:
        self.refresh()
        self.show_status(f"{u.label}: {what}.")
        return u

    # -- actions ---------------------------------------------------------------------------------

    def add_user(self, user_id: str, display_name: str, role: str, *,
                 password: str | None = None, password_again: str | None = None,
                 os_account: str | None = None) -> User:
        """Add a user with a password (typed twice) and/or a mapped OS account."""
        def run() -> User:
            if password and password != (password_again if password_again is not None
                                         else password):
                raise AccountError("the two passwords differ: type the same password twice")
            return self.session.add_user(user_id, display_name, role,
                                         password=password or None,
                                         os_account=os_account or None)

        u = self.act(run)
        self.refresh()
        self.select_user(u.id)
        return self._done(u, "added")

    def _add_clicked(self) -> None:
        self.add_user(self.id_edit.text(), self.name_edit.text(),
                      str(self.role_combo.currentData()),
                      password=self.password_edit.text(),
                      password_again=self.password_again_edit.text(),
                      os_account=self.os_edit.text())
        for edit in (self.id_edit, self.name_edit, self.password_edit,
                     self.password_again_edit, self.os_edit):
            edit.clear()

    def change_role(self, user_id: str, role: str) -> User:
        u = self.act(lambda: self.session.change_user(user_id, role=role))
        return self._done(u, f"role {u.role_label}")

    def _change_role_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.change_role(u.id, str(self.change_role_combo.currentData()))

    def set_active(self, user_id: str, active: bool) -> User:
        u = self.act(lambda: self.session.change_user(user_id, active=active))
        return self._done(u, "activated" if active else "deactivated")

    def _active_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.set_active(u.id, not u.active)

    def set_password(self, user_id: str, password: str, password_again: str) -> User:
        def run() -> User:
            if password != password_again:
                raise AccountError("the two passwords differ: type the same password twice")
            return self.session.change_user(user_id, password=password)

        u = self.act(run)
        return self._done(u, "password set")

    def _password_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.set_password(u.id, self.new_password_edit.text(),
                              self.new_password_again_edit.text())
            self.new_password_edit.clear()
            self.new_password_again_edit.clear()

    def map_os_account(self, user_id: str, account: str) -> User:
        """Map an OS account to the user (an empty account removes the mapping)."""
        account = account.strip()
        u = self.act(lambda: self.session.change_user(
            user_id, os_account=account or None, clear_os_account=not account))
        return self._done(u, f"OS account {account}" if account else "no OS account")

    def _map_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.map_os_account(u.id, self.map_os_edit.text())

    def unlock(self, user_id: str) -> User:
        """Lift the user's lock (and back-off) after failed password sign-ins."""
        u = self.act(lambda: self.session.unlock_user(user_id))
        return self._done(u, "sign-in unlocked")

    def _unlock_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.unlock(u.id)
