"""Administration and accountability, one dialog per module: the supervisor's second review
of possible leads (`second_review`), a case's overview (`case_overview`), and the
administrator's pages: users, settings, audit log and retention. `base` holds what they
share (the session, the inline error and status lines, permission-aware buttons)."""

from facedesk.gui.admin.audit_log import AuditLogDialog
from facedesk.gui.admin.case_overview import CaseOverviewDialog
from facedesk.gui.admin.retention import RetentionDialog
from facedesk.gui.admin.second_review import SecondReviewDialog
from facedesk.gui.admin.settings import SettingsDialog
from facedesk.gui.admin.users import UsersDialog

__all__ = [
    "AuditLogDialog",
    "CaseOverviewDialog",
    "RetentionDialog",
    "SecondReviewDialog",
    "SettingsDialog",
    "UsersDialog",
]
