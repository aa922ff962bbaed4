"""Who is working, and on which case: the first administrator of a new gallery, signing
in, and opening or choosing a case.

Each dialog does its work with the core (`accounts`, `cases`) when its main button is
pressed and stays open with the error shown inline (and everything typed kept) when the
core refuses; after `accept()` the result is in `.session` or `.case`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from facedesk.app import accounts, cases
from facedesk.app.accounts import Session
from facedesk.app.cases import Case
from facedesk.errors import FaceDeskError
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.styles import BOLD_ERROR_STYLE
from facedesk.gui.tasks import describe_error, rebind, run_task
from facedesk.gui.widgets import (
    Dialog,
    accept_after,
    button,
    cancel_button,
    column,
    error_label,
    password_edit,
    row,
    select_data,
    wrapped,
)
from facedesk.gui.widgets import show_error as _show_error
from facedesk.store import Gallery

OTHER_PURPOSE = "Other"


class FirstAdministratorDialog(Dialog):
    """A gallery without users: its first user is its administrator."""

    def __init__(self, gallery: Gallery, parent: QWidget | None = None) -> None:
        super().__init__("firstAdministratorDialog", "First user of this gallery", parent)
        self.gallery = gallery
        self.session: Session | None = None
        self.os_name = accounts.os_account()

        intro = wrapped(
            "<b>This gallery has no users yet.</b><br>The first user is its "
            "<b>administrator</b>: they add analysts, supervisors and trainers, and set the "
            "thresholds, the two-person rule and retention. Every search and decision is "
            "recorded under the name of the user who made it.")
        self.user_edit = QLineEdit()
        self.user_edit.setObjectName("userIdEdit")
        self.user_edit.setPlaceholderText("one word, e.g. jdoe")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("fullNameEdit")
        self.name_edit.setPlaceholderText("e.g. Jane Doe")
        self.password_edit = password_edit(
            "passwordEdit", f"at least {accounts.MIN_PASSWORD} characters")
        self.password2_edit = password_edit("password2Edit")
        self.os_check = QCheckBox(f"Sign in with my OS account {self.os_name!r} "
                                  "(no password needed on this computer)")
        self.os_check.setObjectName("osAccountCheck")
        self.os_check.setVisible(bool(self.os_name))
        self.os_check.toggled.connect(self._update)

        form = QFormLayout()
        form.addRow("User name:", self.user_edit)
        form.addRow("Full name:", self.name_edit)
        form.addRow("Password:", self.password_edit)
        form.addRow("Password again:", self.password2_edit)
        form.addRow("", self.os_check)

        self.error = error_label("firstAdminError", BOLD_ERROR_STYLE)
        self.create_button = button("Create administrator and sign in", "createAdminButton",
                                    self.create_administrator, default=True)
        column(self, intro, form, self.error,
               row(None, cancel_button(self), self.create_button))
        for edit in (self.user_edit, self.name_edit, self.password_edit, self.password2_edit):
            edit.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.password_edit.setPlaceholderText(
            "optional with the OS account" if self.os_check.isChecked()
            else f"at least {accounts.MIN_PASSWORD} characters, hard to guess")

    def create_administrator(self) -> bool:
        password = self.password_edit.text()
        if password != self.password2_edit.text():
            _show_error(self.error, "the two passwords differ: type the same password twice")
            return False
        use_os = self.os_check.isChecked() and bool(self.os_name)
        if not password and not use_os:
            _show_error(self.error, "choose a password (or sign in with your OS account)")
            return False

        def create() -> None:
            self.session = accounts.create_first_administrator(
                self.gallery, self.user_edit.text(), self.name_edit.text(),
                password=password or None, os_account=self.os_name if use_os else None)

        return accept_after(self, self.error, create)


class SignInDialog(Dialog):
    """Sign in to a gallery: one of its active users and a password, or the user an
    administrator mapped to this OS account."""

    def __init__(self, gallery: Gallery, parent: QWidget | None = None,
                 current: str | None = None) -> None:
        super().__init__("signInDialog", "Sign in", parent)
        self.gallery = gallery
        self.session: Session | None = None

        intro = wrapped(f"Sign in to <b>{gallery.name}</b>. Searches and decisions are "
                        "recorded under your name.")
        self.user_combo = QComboBox()
        self.user_combo.setObjectName("userCombo")
        for u in accounts.users(gallery, active_only=True):
            self.user_combo.addItem(u.label, u.id)
        if current is not None:
            index = self.user_combo.findData(current)
            if index >= 0:
                self.user_combo.setCurrentIndex(index)
        self.password_edit = password_edit("passwordEdit")
        self.password_edit.returnPressed.connect(self.sign_in)

        form = QFormLayout()
        form.addRow("User:", self.user_combo)
        form.addRow("Password:", self.password_edit)

        self.error = error_label("signInError", BOLD_ERROR_STYLE)
        self.sign_in_button = button("Sign in", "signInButton", self.sign_in, default=True)
        self.os_user = accounts.os_user(gallery)
        self.os_button = QPushButton()
        self.os_button.setObjectName("signInOsButton")
        if self.os_user is not None:
            self.os_button.setText(f"Sign in as {accounts.os_account()} "
                                   f"({self.os_user.display_name})")
            self.os_button.clicked.connect(self.sign_in_os)
        else:
            self.os_button.hide()
        column(self, intro, form, self.error,
               row(self.os_button, None, cancel_button(self), self.sign_in_button))
        if self.user_combo.count() == 0:
            _show_error(self.error, "this gallery has no active user: ask an administrator")
            self.sign_in_button.setEnabled(False)
        self.password_edit.setFocus()

    def select_user(self, user_id: str) -> None:
        select_data(self.user_combo, user_id)

    def sign_in(self) -> bool:
        """Check the password off the GUI thread (Argon2 takes a while, the sign-in is a
        write); the button is disabled meanwhile. True when the check was started."""
        user_id = self.user_combo.currentData()
        if user_id is None or not self.sign_in_button.isEnabled():
            return False
        password = self.password_edit.text()
        self.sign_in_button.setEnabled(False)

        def signed_in(session: Session) -> None:
            self.sign_in_button.setEnabled(True)
            self.session = rebind(session, self.gallery)
            _show_error(self.error, "")
            self.accept()

        def refused(exc: BaseException) -> None:
            self.sign_in_button.setEnabled(True)
            _show_error(self.error, describe_error(exc))
            self.password_edit.selectAll()
            self.password_edit.setFocus()

        run_task(self, lambda gallery: accounts.sign_in(gallery, str(user_id), password),
                 signed_in, refused, gallery=self.gallery.open_location)
        return True

    def sign_in_os(self) -> bool:
        try:
            self.session = accounts.sign_in_os(self.gallery)
        except FaceDeskError as exc:
            _show_error(self.error, exc.message)
            return False
        self.accept()
        return True


class CaseDialog(Dialog):
    """Open a new case (number, purpose, detail) or choose one of the open cases. Every
    search belongs to a case."""

    def __init__(self, session: Session, parent: QWidget | None = None,
                 current: Case | None = None) -> None:
        super().__init__("caseDialog", "Case", parent)
        self.session = session
        self.case: Case | None = None
        settings = session.settings()
        may_open = session.may("open_case")

        # -- a new case
        self.new_box = QGroupBox("Open a new case")
        self.new_box.setObjectName("newCaseBox")
        self.number_edit = QLineEdit()
        self.number_edit.setObjectName("caseNumberEdit")
        self.number_edit.setPlaceholderText("the agency's case number, e.g. 2026-004217")
        self.purpose_combo = QComboBox()
        self.purpose_combo.setObjectName("purposeCombo")
        for purpose in settings.purposes:
            self.purpose_combo.addItem(purpose, purpose)
        self.purpose_combo.addItem(OTHER_PURPOSE + " (describe below)", OTHER_PURPOSE)
        self.purpose_combo.currentIndexChanged.connect(self._purpose_changed)
        self.detail_edit = QPlainTextEdit()
        self.detail_edit.setObjectName("purposeDetailEdit")
        self.detail_edit.setTabChangesFocus(True)
        self.detail_edit.setMaximumHeight(70)
        self.open_button = button("Open new case", "openCaseButton", self.open_new)
        form = QFormLayout(self.new_box)
        form.addRow("Case number:", self.number_edit)
        form.addRow("Purpose:", self.purpose_combo)
        form.addRow("Detail:", self.detail_edit)
        form.addRow("", self.open_button)
        if not may_open:
            self.new_box.setEnabled(False)
            self.new_box.setToolTip(f"{session.user.display_name} "
                                    f"({session.user.role_label}) may not open a case")
        self._purpose_changed()

        # -- an existing case
        self.list_box = QGroupBox("Or continue a case")
        self.list_box.setObjectName("caseListBox")
        self.case_list = QListWidget()
        self.case_list.setObjectName("caseList")
        self.case_list.itemDoubleClicked.connect(lambda _item: self.choose())
        self.case_list.currentItemChanged.connect(lambda *_: self._list_changed())
        self.closed_check = QCheckBox("Show closed cases too (read-only)")
        self.closed_check.setObjectName("showClosedCheck")
        self.closed_check.toggled.connect(lambda _on: self._fill_list())
        self.choose_button = button("Continue this case", "chooseCaseButton", self.choose)
        column(self.list_box, self.case_list, row(self.closed_check, None, self.choose_button))

        self.error = error_label("caseError", BOLD_ERROR_STYLE)
        who = wrapped(f"Signed in as <b>{session.user.display_name}</b> "
                      f"({session.user.role_label}). Every search belongs to a case; the case "
                      "number and purpose are recorded with it.")
        column(self, who, self.new_box, (self.list_box, 1), self.error,
               row(None, cancel_button(self)))
        self._fill_list(current)
        fit_to_screen(self, 560, 520)

    def _purpose_changed(self) -> None:
        other = self.purpose_combo.currentData() == OTHER_PURPOSE
        self.detail_edit.setPlaceholderText(
            "Describe the purpose (required for Other)" if other
            else "Optional: offence, incident or report number")

    def _fill_list(self, current: Case | None = None) -> None:
        self.case_list.clear()
        try:  # a trainer sees training cases only
            shown = cases.visible_cases(self.session,
                                        open_only=not self.closed_check.isChecked())
        except FaceDeskError:
            shown = []
        for c in shown:
            text = f"{c.number} — {c.purpose}" + (f": {c.purpose_detail}"
                                                  if c.purpose_detail else "")
            text += f"  (opened by {c.opened_by}, {c.opened_at[:10]})"
            if not c.is_open:
                text += f"  [closed {(c.closed_at or '')[:10]}]"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            self.case_list.addItem(item)
            if current is not None and c.id == current.id:
                self.case_list.setCurrentItem(item)
        if not shown:
            item = QListWidgetItem("(no open case)")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.case_list.addItem(item)
        self._list_changed()

    def _list_changed(self) -> None:
        item = self.case_list.currentItem()
        self.choose_button.setEnabled(
            item is not None and item.data(Qt.ItemDataRole.UserRole) is not None)

    def select_case(self, number: str) -> None:
        for i in range(self.case_list.count()):
            item = self.case_list.item(i)
            case_id = item.data(Qt.ItemDataRole.UserRole)
            if case_id is not None and \
                    cases.get_case(self.session.gallery, int(case_id)).number == number:
                self.case_list.setCurrentItem(item)
                return
        raise KeyError(number)

    def set_purpose(self, purpose: str) -> None:
        select_data(self.purpose_combo, purpose)

    def open_new(self) -> bool:
        def open_case() -> None:
            self.case = cases.open_case(self.session, self.number_edit.text(),
                                        str(self.purpose_combo.currentData()),
                                        self.detail_edit.toPlainText())

        return accept_after(self, self.error, open_case)

    def choose(self) -> bool:
        item = self.case_list.currentItem()
        case_id = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        if case_id is None:
            _show_error(self.error, "choose a case from the list")
            return False

        def get_case() -> None:
            self.case = cases.get_case(self.session.gallery, int(case_id))

        return accept_after(self, self.error, get_case)
