"""The audit-log viewer for charity staff, admins and officers, and the page of who looked at a recipient's
private data (fundraise/services/access_log.py)."""

from fundraise.audit_viewer.routes import bp

__all__ = ["bp"]
