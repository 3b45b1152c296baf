"""Forms for requesting a disbursement, deciding and paying one, and entering a hospital's settlement account.

The service checks every rule and says what is wrong field by field; these forms only read what was typed
(amounts through YuanField) so the service's messages land next to the right inputs."""

from __future__ import annotations

from typing import ClassVar

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from fundraise.models import DisbursementSource
from fundraise.services.disbursements import NOTE_MAX, PURPOSE_MAX, RequestForm
from fundraise.web.fields import YuanField

FUND = DisbursementSource.CAMPAIGN_FUND.value
OFFER_PREFIX = "offer:"


class DisbursementRequestForm(FlaskForm):
    """A payment to the treating hospital against one bill. `source` is "campaign_fund" or "offer:<id>"."""

    source = SelectField(_l("Pay from"), validate_choice=False)
    amount = YuanField(_l("Amount to pay"), description=_l("In yuan; at most the bill's total."))
    bill_total = YuanField(_l("The bill's total"), description=_l("In yuan, as printed on the bill."))
    purpose = StringField(
        _l("What it pays for"),
        validators=[Optional(), Length(max=PURPOSE_MAX)],
        description=_l("For example: hospital stay 1 to 15 March, second round of chemotherapy."),
    )
    bill = FileField(
        _l("The hospital's bill or invoice"),
        description=_l("A PDF, JPEG or PNG file: the bill this payment settles."),
    )
    request_key = HiddenField()

    # The service's names for the fields the form names differently.
    ALIASES: ClassVar[dict[str, str]] = {
        "offer_id": "source",
        "amount_fen": "amount",
        "bill_total_fen": "bill_total",
    }

    def service_form(self) -> RequestForm:
        """What was typed, as the service reads it (amounts in fen, None when missing or unreadable)."""
        chosen = self.source.data or ""
        offer_id = None
        source = chosen
        if chosen.startswith(OFFER_PREFIX):
            source = DisbursementSource.RELIEF_COMMITMENT.value
            digits = chosen.removeprefix(OFFER_PREFIX)
            offer_id = int(digits) if digits.isdigit() else 0
        return RequestForm(
            source=source,
            amount_fen=self.amount.data,
            bill_total_fen=self.bill_total.data,
            purpose=self.purpose.data or "",
            request_key=(self.request_key.data or "").strip(),
            offer_id=offer_id,
        )


class ApproveForm(FlaskForm):
    note = TextAreaField(
        _l("Note (optional)"),
        validators=[Optional(), Length(max=NOTE_MAX)],
        description=_l("What you checked, for example the bill against the hospital's records."),
    )


class RejectForm(FlaskForm):
    note = TextAreaField(
        _l("Reason"), validators=[Length(max=NOTE_MAX)], description=_l("Needed: the requester reads it.")
    )


class CancelForm(FlaskForm):
    note = TextAreaField(
        _l("Reason"),
        validators=[Length(max=NOTE_MAX)],
        description=_l("Needed. An approved disbursement's reserved money goes back to its source."),
    )


class PaymentForm(FlaskForm):
    reference = StringField(
        _l("Bank transfer reference"),
        validators=[Length(max=64)],
        description=_l(
            "The reference (流水号) of the transfer to the hospital, exactly as the bank gives it."
        ),
    )


class SettlementAccountForm(FlaskForm):
    bank_name = StringField(
        _l("Bank and branch"), validators=[Length(max=128)], description=_l("For example: 中国银行合肥分行.")
    )
    account_name = StringField(
        _l("Account name"),
        validators=[Length(max=128)],
        description=_l("The hospital's name as the bank has it."),
    )
    account_number = StringField(
        _l("Account number"),
        validators=[Length(max=64)],
        description=_l(
            "8 to 30 digits; spaces are dropped. A second admin must confirm it before anything is paid."
        ),
    )


class ButtonForm(FlaskForm):
    """A button that posts with a CSRF token (confirm, withdraw)."""
