"""Forms for charity staff: review decisions, report resolutions, reinstatement."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from fundraise.services.campaign_reports import RESOLUTION_MAX, RESOLUTION_MIN
from fundraise.services.transitions import DECISION_REASON_MIN, REASON_MAX

# The state machine's rule for decision reasons (the API applies the same).
REASON_MIN = DECISION_REASON_MIN


def _written(label: str, description: str, minimum: int, maximum: int) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[
            DataRequired(_l("A written reason is required.")),
            Length(min=minimum, max=maximum, message=_l("Write %(min)d to %(max)d characters.")),
        ],
        description=description,
    )


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("approve", _l("Approve: the case is verified")),
            SelectChoice("reject", _l("Reject: the case is not approved")),
        ],
        validators=[DataRequired(_l("Choose approve or reject."))],
    )
    reason = _written(
        _l("Reason"),
        _l("Say what you checked and why. The family sees it; for an approval it is also shown publicly."),
        REASON_MIN,
        REASON_MAX,
    )


class ResolveReportForm(FlaskForm):
    outcome = RadioField(
        _l("Outcome"),
        choices=[
            SelectChoice("dismiss", _l("Dismiss: the report does not hold up")),
            SelectChoice("uphold", _l("Uphold: suspend the campaign")),
        ],
        validators=[DataRequired(_l("Choose dismiss or uphold."))],
    )
    resolution = _written(
        _l("Resolution"),
        _l("What you found. When the report is upheld this is shown on the campaign page as the reason."),
        RESOLUTION_MIN,
        RESOLUTION_MAX,
    )


class ReinstateForm(FlaskForm):
    reason = _written(
        _l("Reason for reinstating"),
        _l("Why the campaign may raise money again; it is recorded in the audit log."),
        RESOLUTION_MIN,
        RESOLUTION_MAX,
    )


class ConfirmForm(FlaskForm):
    """A button that posts with a CSRF token (revealing the ID number)."""
