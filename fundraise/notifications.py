"""How a stored notification reads, in the reader's language."""

from __future__ import annotations

from flask_babel import gettext as _

from fundraise.models import Notification
from fundraise.states import state_label


def render_notification(notification: Notification) -> tuple[str, str]:
    """(subject, body) for a notification, in the active locale."""
    params = notification.params
    if notification.kind == "state_change":
        subject = _(
            "Your campaign \u201c%(title)s\u201d is now: %(state)s",
            title=params.get("title") or _("(untitled)"),
            state=state_label(params.get("to_state")),
        )
        body = subject
        if params.get("reason"):
            body += "\n\n" + _("Reason: %(reason)s", reason=params["reason"])
        return subject, body
    return notification.kind, ""
