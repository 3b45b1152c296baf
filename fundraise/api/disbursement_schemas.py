"""The request and response schemas of the disbursements API (fundraise/api/disbursements.py): payouts to
hospitals, their settlement accounts and what each gift paid for, for the OpenAPI document."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import url_for
from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from fundraise.api.schemas import DocumentSchema, Fen, Yuan
from fundraise.disbursement_text import decision_note_text, phase_label
from fundraise.models import Disbursement, DisbursementSource, DisbursementStatus, SettlementStatus
from fundraise.request_limits import MAX_ID
from fundraise.services import disbursements

# Where a disbursement stands (services/disbursements.py `phase`): stored status plus the clock, objections
# and approvals.
PHASES = (
    "notice",
    "held",
    "awaiting_approval",
    "awaiting_second_approval",
    "approved",
    "paid",
    "rejected",
    "cancelled",
)
QUEUE_TABS = ("waiting", "approved", "paid", "closed")
SOURCES = [source.value for source in DisbursementSource]
# The largest amount a request may name: far above any hospital bill (¥10 billion), well inside the BIGINT
# the amounts are stored in, so an absurd number is a 422 rather than an overflow.
MAX_AMOUNT_FEN = 10**12


# --- requests ------------------------------------------------------------------------------------------


class DisbursementRequestForm(Schema):
    """multipart/form-data: what to pay the treating hospital, against which bill. Numbers are form fields
    (decimal digits); amounts in fen."""

    class Meta:
        unknown = EXCLUDE  # the form may also carry csrf_token

    source = fields.String(
        required=True,
        validate=validate.OneOf(SOURCES),
        metadata={"description": "The campaign fund, or an approved relief offer for the case (`offer_id`)."},
    )
    offer_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "For `relief_commitment`: one of the campaign's approved relief offers."},
    )
    amount_fen = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=MAX_AMOUNT_FEN),
        metadata={
            "description": "What to pay, in fen: at most the bill and at most what the source holds now.",
            "example": 1_500_000,
        },
    )
    bill_total_fen = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=MAX_AMOUNT_FEN),
        metadata={"description": "The bill's own total, in fen.", "example": 2_000_000},
    )
    purpose = fields.String(
        required=True,
        validate=validate.Length(max=disbursements.PURPOSE_MAX),
        metadata={
            "description": f"What it pays for, {disbursements.PURPOSE_MIN} to {disbursements.PURPOSE_MAX} "
            "characters on one line.",
            "example": "住院费用（第一次结算）",
        },
    )
    hospital_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Optional; if given, it must be the campaign's treating hospital."},
    )
    bill = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "format": "binary",
            "description": "The hospital's bill or invoice: one PDF, JPEG or PNG, checked by content.",
        },
    )


class DisbursementNote(Schema):
    """A decision's note: optional for an approval, required (a few words) to reject or cancel."""

    class Meta:
        unknown = RAISE

    note = fields.String(
        load_default="",
        validate=validate.Length(max=disbursements.NOTE_MAX),
        metadata={"description": "Why; the requester reads it.", "example": "票据核对无误"},
    )


class DisbursementPayment(Schema):
    class Meta:
        unknown = RAISE

    reference = fields.String(
        required=True,
        validate=validate.Length(max=64),
        metadata={
            "description": "The bank transfer's reference (流水号): 6 to 64 letters, digits or dashes.",
            "example": "HX20261203001",
        },
    )


class DisbursementQueueQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    tab = fields.String(
        load_default="waiting",
        validate=validate.OneOf(QUEUE_TABS),
        metadata={
            "description": "waiting (in notice, held or awaiting approval), approved (to be paid), paid, "
            "closed (rejected or cancelled)."
        },
    )


class SettlementAccountInput(Schema):
    """A hospital's bank account for payouts; pending until a second admin confirms it."""

    class Meta:
        unknown = RAISE

    bank_name = fields.String(
        required=True, validate=validate.Length(max=128), metadata={"example": "中国银行合肥分行"}
    )
    account_name = fields.String(
        required=True, validate=validate.Length(max=128), metadata={"example": "安徽省立医院"}
    )
    account_number = fields.String(
        required=True,
        validate=validate.Length(max=64),
        metadata={
            "description": "8 to 30 digits; spaces and dashes are dropped.",
            "example": "6217 0000 1234 5678",
        },
    )


# --- responses -----------------------------------------------------------------------------------------


class DisbursementHospital(Schema):
    id = fields.Integer()
    code = fields.String(metadata={"example": "AH-PROV"})
    name_zh = fields.String()
    name_en = fields.String()


class DisbursementPerson(Schema):
    id = fields.Integer()
    name = fields.String()


class DisbursementApprovalSchema(Schema):
    approver = fields.Nested(DisbursementPerson)
    note = fields.String()
    created_at = fields.DateTime()


class DisbursementPrivate(Schema):
    """For the applicant side, charity staff and civil-affairs officers of the patient's region."""

    status = fields.String(validate=validate.OneOf([status.value for status in DisbursementStatus]))
    requested_by = fields.Nested(DisbursementPerson)
    approvals = fields.List(fields.Nested(DisbursementApprovalSchema))
    decided_by = fields.Nested(DisbursementPerson, allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.Function(
        lambda d: decision_note_text(d.decision_note),
        metadata={"description": "Why it was rejected or cancelled, in the caller's language."},
    )
    transfer_reference = fields.String(allow_none=True)
    paid_by = fields.Nested(DisbursementPerson, allow_none=True)
    bill = fields.Nested(DocumentSchema)


class DisbursementSchema(Schema):
    """A payment to the treating hospital against a bill."""

    OPTIONAL_IN_RESPONSE: ClassVar[tuple[str, ...]] = ("private",)

    id = fields.Integer()
    campaign_id = fields.Integer()
    url = fields.Function(
        lambda d: url_for("api.get_disbursement", disbursement_id=d.id, _external=True),
        metadata={"type": "string"},
    )
    phase = fields.String(
        validate=validate.OneOf(PHASES),
        metadata={
            "description": "notice (shown publicly, objections open), held (an objection is investigated), "
            "awaiting_approval, awaiting_second_approval, approved (money reserved), paid, rejected, "
            "cancelled."
        },
    )
    phase_label = fields.String(metadata={"description": "`phase` in the caller's language."})
    source = fields.String(validate=validate.OneOf(SOURCES))
    offer_id = fields.Integer(allow_none=True)
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")
    bill_total_fen = Fen()
    bill_total_yuan = Yuan("bill_total_fen")
    hospital = fields.Nested(DisbursementHospital)
    purpose = fields.String()
    required_approvals = fields.Integer(validate=validate.OneOf((1, 2)))
    approvals_given = fields.Function(lambda d: len(d.approvals), metadata={"type": "integer"})
    created_at = fields.DateTime()
    notice_ends_at = fields.DateTime(metadata={"description": "Approval is possible from then on."})
    approved_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    private = fields.Nested(
        DisbursementPrivate,
        metadata={"description": "Only for the applicant side, staff and officers of the patient's region."},
    )


class UseOfFundsSchema(Schema):
    """A campaign's money in five numbers."""

    raised_fen = Fen(metadata={"description": "What donors gave (refunds included)."})
    raised_yuan = Yuan("raised_fen")
    paid_fen = Fen(metadata={"description": "Paid from the campaign fund to the hospital."})
    paid_yuan = Yuan("paid_fen")
    relief_paid_fen = Fen(metadata={"description": "Paid from relief offers to the hospital."})
    relief_paid_yuan = Yuan("relief_paid_fen")
    refunded_fen = Fen()
    refunded_yuan = Yuan("refunded_fen")
    held_fen = Fen(metadata={"description": "In the fund, or reserved for approved disbursements."})
    held_yuan = Yuan("held_fen")


class CampaignDisbursements(Schema):
    campaign_id = fields.Integer()
    frozen_reason = fields.String(
        allow_none=True,
        metadata={"description": "Why the campaign's disbursements are frozen now (a report, suspension)."},
    )
    use_of_funds = fields.Nested(UseOfFundsSchema)
    items = fields.List(fields.Nested(DisbursementSchema), metadata={"description": "Newest first."})


class DisbursementQueue(Schema):
    tab = fields.String(validate=validate.OneOf(QUEUE_TABS))
    items = fields.List(
        fields.Nested(DisbursementSchema), metadata={"description": "Earliest end of notice first."}
    )


class SettlementAccountSchema(Schema):
    id = fields.Integer()
    hospital_id = fields.Integer()
    status = fields.String(validate=validate.OneOf([status.value for status in SettlementStatus]))
    bank_name = fields.String()
    account_name = fields.String()
    account_number_masked = fields.String(
        attribute="masked_number", metadata={"description": "The last four digits.", "example": "•••• 5678"}
    )
    proposed_by = fields.Nested(DisbursementPerson)
    proposed_at = fields.DateTime()
    confirmed_by = fields.Nested(DisbursementPerson, allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)


class SettlementAccountList(Schema):
    hospital = fields.Nested(DisbursementHospital)
    payable = fields.Boolean(
        metadata={"description": "Whether payouts can go to the hospital now (confirmed, no change pending)."}
    )
    items = fields.List(
        fields.Nested(SettlementAccountSchema), metadata={"description": "The confirmed and the pending row."}
    )


class GiftPayout(Schema):
    disbursement_id = fields.Integer()
    amount_fen = Fen(metadata={"description": "The part of this gift the payout used."})
    amount_yuan = Yuan("amount_fen")
    hospital = fields.Nested(DisbursementHospital)
    purpose = fields.String()
    paid_at = fields.DateTime()


class GiftUses(Schema):
    """What a gift paid for; for a received gift the parts sum to `amount_fen`."""

    donation_id = fields.Integer()
    campaign_id = fields.Integer()
    received = fields.Boolean(
        metadata={"description": "Whether the gift was received; a gift never received has no parts."}
    )
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")
    payouts = fields.List(fields.Nested(GiftPayout), metadata={"description": "Oldest first."})
    relief_pool_fen = Fen(
        metadata={"description": "Moved to a relief pool at close-out, as the donor chose."}
    )
    refunded_fen = Fen()
    disputed_fen = Fen(metadata={"description": "Withdrawn by a card dispute."})
    fee_fen = Fen(metadata={"description": "Kept by the payment provider as its fee."})
    held_fen = Fen(metadata={"description": "Not yet spent: still in the campaign's fund."})


# --- dumping -------------------------------------------------------------------------------------------


def disbursement_body(disbursement: Disbursement, *, held: bool, private: bool) -> dict[str, Any]:
    """One disbursement as the API shows it; `private` adds who asked, approved and paid, and the bill."""
    body: dict[str, Any] = DisbursementSchema(exclude=("phase", "phase_label", "private")).dump(disbursement)
    phase = disbursements.phase(disbursement, held=held)
    body["phase"] = phase
    body["phase_label"] = phase_label(phase)
    if private:
        body["private"] = DisbursementPrivate().dump(disbursement)
    return body
