"""Forms for staff pages: review decisions, the steps of a report, reinstatement, refunds, records imports."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from fundraise.models import RecordKind
from fundraise.services.block_list import LIFT_REASON_MAX, LIFT_REASON_MIN
from fundraise.services.campaign_reports import NOTE_MAX, NOTE_MIN, RESOLUTION_MAX, RESOLUTION_MIN
from fundraise.services.transitions import DECISION_REASON_MIN, REASON_MAX
from fundraise.web.fields import YuanField

# The state machine's rule for decision reasons (the API applies the same).
REASON_MIN = DECISION_REASON_MIN
REFUND_REASON_MIN, REFUND_REASON_MAX = 5, 2000


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


class CredibleForm(FlaskForm):
    note = _written(
        _l("Why the report is credible"),
        _l("Recorded in the audit log. The campaign's disbursements freeze until the report is resolved."),
        NOTE_MIN,
        NOTE_MAX,
    )


class EvidenceRequestForm(FlaskForm):
    request_text = _written(
        _l("What the family should send"),
        _l("The family reads this as written; name the documents you need."),
        RESOLUTION_MIN,
        RESOLUTION_MAX,
    )
    due_on = DateField(
        _l("Answer by"),
        validators=[InputRequired(_l("Choose the date by which the family should answer."))],
        description=_l("After today, at most 60 days away."),
    )


class ConfirmFraudForm(FlaskForm):
    resolution = _written(
        _l("What was found"),
        _l("Recorded with every refund and in the audit log."),
        RESOLUTION_MIN,
        RESOLUTION_MAX,
    )
    confirm = BooleanField(
        _l(
            "I confirm: cancel every unpaid disbursement, end the campaign, refund every donor and block this"
            " patient from new campaigns."
        ),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class LiftBlockForm(FlaskForm):
    reason = _written(
        _l("Reason for lifting the block"),
        _l("Recorded in the audit log."),
        LIFT_REASON_MIN,
        LIFT_REASON_MAX,
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


class RefundForm(FlaskForm):
    # InputRequired, not DataRequired: DataRequired reads a zero amount as missing ("Enter the amount."). An
    # amount that cannot be read (a negative one) keeps the field's own message (YuanField.pre_validate).
    amount = YuanField(
        _l("Amount to refund, in yuan"),
        validators=[
            InputRequired(_l("Enter the amount.")),
            NumberRange(min=1, message=_l("Enter an amount above zero, in yuan.")),
        ],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("A written reason is required.")),
            Length(
                min=REFUND_REASON_MIN,
                max=REFUND_REASON_MAX,
                message=_l("Write %(min)d to %(max)d characters."),
            ),
        ],
    )


class RefundAllForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("A written reason is required.")),
            Length(min=10, max=REFUND_REASON_MAX, message=_l("Write %(min)d to %(max)d characters.")),
        ],
        description=_l("Recorded in the audit log and shown to staff with every refund."),
    )
    confirm = BooleanField(
        _l("I confirm: cancel this campaign and refund every donor what is left of their gift."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


# --- records import (civil-affairs officers and administrators) ---

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

KIND_LABELS = {
    RecordKind.BASIC_ENROLMENT: _l("Basic medical insurance enrolment"),
    RecordKind.CRITICAL_ILLNESS: _l("Critical-illness insurance entitlement"),
    RecordKind.CIVIL_AFFAIRS: _l("Civil-affairs assistance status"),
}


class RecordsImportForm(FlaskForm):
    kind = SelectField(
        _l("Kind of records"),
        choices=[SelectChoice("", _l("Choose"))]
        + [SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        validators=[InputRequired(_l("Choose the kind of records."))],
        invalid_choice_message=_l("Choose the kind of records from the list."),
    )
    file_format = SelectField(
        _l("File format"),
        choices=[
            SelectChoice("", _l("From the file name (.csv, .json or .xlsx)")),
            SelectChoice("csv", "CSV"),
            SelectChoice("json", "JSON"),
            SelectChoice("xlsx", _l("Excel workbook (.xlsx)")),
        ],
        invalid_choice_message=_l("Choose CSV, JSON or Excel (.xlsx)."),
    )
    file = FileField(
        _l("Feed file"),
        validators=[FileRequired(_l("Choose the file to import."))],
        description=_l(
            "CSV with a header row (UTF-8 or GBK, as Excel and WPS save it), JSON, or an Excel workbook (.xlsx)"
            " whose first worksheet has a header row. Every row is checked first: one faulty row and nothing is"
            " imported, and you get the list of faults."
        ),
        render_kw={"accept": f".csv,.json,.xlsx,text/csv,application/json,{XLSX_MEDIA_TYPE}"},
    )
