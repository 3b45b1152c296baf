"""API v1 for closing a campaign out (DESIGN §5, Payout): where it stands and what settling would do, the
family's request with the final bill, and the custodian staff's settlement of what is left. The rules are
fundraise.services.close_out's."""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from flask import jsonify, request
from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, fields, validate

from fundraise.access import can_see_private, current_account, roles
from fundraise.api.common import UnsupportedMediaType
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.errors import NotFound, ValidationFailed
from fundraise.models import Campaign, Role
from fundraise.services import close_out
from fundraise.services import documents as document_service
from fundraise.services.campaigns import get_campaign

TAG = "disbursements"
ALL_BUT_DONORS = (Role.FAMILY, Role.SOCIAL_WORKER, Role.CHARITY_STAFF, Role.CIVIL_AFFAIRS_OFFICER, Role.ADMIN)


class CloseOutForm(Schema):
    """multipart/form-data: the final bill (field `bill`) and an optional note for the charity."""

    class Meta:
        unknown = EXCLUDE  # the form may also carry csrf_token

    note = fields.String(validate=validate.Length(max=close_out.NOTE_MAX))
    bill = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary", "description": "The final bill: PDF, JPEG or PNG."},
    )


class CloseOutState(Schema):
    """Where a campaign's close-out stands and what settling it now would do (amounts in fen)."""

    campaign_id = fields.Integer()
    ended_code = fields.String(
        allow_none=True,
        validate=validate.OneOf([close_out.REQUESTED, close_out.CLOSED_OUT, "fraud_confirmed"]),
        metadata={
            "description": "None until the close-out is asked for; then close_out_requested, closed_out."
        },
    )
    held_fen = fields.Integer(metadata={"description": "What the campaign fund holds now."})
    refund_fen = fields.Integer(
        metadata={"description": "What settling would refund to donors who chose so."}
    )
    refund_count = fields.Integer()
    pool_fen = fields.Integer(metadata={"description": "What settling would move to the relief pool."})
    pool_count = fields.Integer()
    moved_to_pool_fen = fields.Integer(metadata={"description": "Already moved to the relief pool."})
    unpaid_disbursement_ids = fields.List(fields.Integer(), metadata={"description": "To finish first."})
    settle_refusal = fields.String(
        allow_none=True,
        metadata={"description": "Why the caller may not settle now, in words; None if they may."},
    )


class SettlementResult(Schema):
    """What settling did: refunds asked of the provider and gifts moved to the pool ([donation id, fen]), and
    refunds the provider refused ([donation id, why])."""

    refunds_asked = fields.List(fields.List(fields.Integer()))
    moved_to_pool = fields.List(fields.List(fields.Integer()))
    failures = fields.List(fields.List(fields.Raw()))
    state = fields.Nested(CloseOutState)


def _campaign(campaign_id: int) -> Campaign:
    actor = current_account()
    campaign = get_campaign(campaign_id, actor)
    if not can_see_private(actor, campaign):
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _state(campaign: Campaign) -> dict[str, Any]:
    preview = close_out.preview(campaign)
    return {
        "campaign_id": campaign.id,
        "ended_code": campaign.ended_code,
        "held_fen": preview.held_fen,
        "refund_fen": preview.refund_fen,
        "refund_count": preview.refund_count,
        "pool_fen": preview.pool_fen,
        "pool_count": preview.pool_count,
        "moved_to_pool_fen": close_out.moved_to_pool_fen(campaign.id),
        "unpaid_disbursement_ids": [d.id for d in close_out.unpaid(campaign.id)],
        "settle_refusal": close_out.settlement_refusal(current_account(), campaign),
    }


@bp.route("/campaigns/<int:campaign_id>/close-out", methods=["GET"])
@roles(*ALL_BUT_DONORS)
@operation(
    "Where a campaign's close-out stands",
    tag=TAG,
    description="What the fund holds, what settling would refund and move to the relief pool (as each donor "
    "chose), the disbursements to finish first, and why the caller may not settle now. For the applicant side, "
    "charity staff and officers of the patient's region.",
    responses={200: ("The close-out's state.", CloseOutState)},
    problems={404: "No such campaign, or not one the caller may see."},
)
def close_out_state(campaign_id: int) -> Any:
    return jsonify(CloseOutState().dump(_state(_campaign(campaign_id))))


@bp.route("/campaigns/<int:campaign_id>/close-out", methods=["POST"])
@roles(Role.FAMILY, Role.SOCIAL_WORKER, Role.CHARITY_STAFF, Role.ADMIN)
@operation(
    "Close a campaign out",
    tag=TAG,
    description="Treatment is over: the family, their social worker or charity staff send the final bill. "
    "Fundraising closes; the custodian charity's staff then settle what is left.",
    body=CloseOutForm,
    body_media="multipart/form-data",
    responses={200: ("The close-out's state.", CloseOutState)},
    problems={
        403: "Not the campaign's applicant side or charity staff.",
        404: "No such campaign, or not one the caller may see.",
        409: "Already asked for, or the campaign is neither raising money nor closed.",
    },
)
def request_close_out(campaign_id: int) -> Any:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            _("Send the close-out as multipart/form-data with the bill in the field bill.")
        )
    actor = current_account()
    campaign = _campaign(campaign_id)
    note = request.form.get("note", "")
    upload = request.files.get("bill")
    if upload is None or not upload.filename:
        message = _("Attach the hospital's final bill (a PDF or a photo).")
        raise ValidationFailed(message, fields={"bill": [message]})
    received = document_service.read_upload(cast(BinaryIO, upload.stream), upload.filename or "bill", "bill")
    (bill,) = document_service.prepare_for(campaign, actor, [("bill", received)])
    campaign = close_out.request_close_out(campaign, actor, bill, note)
    return jsonify(CloseOutState().dump(_state(campaign)))


@bp.route("/campaigns/<int:campaign_id>/close-out/settle", methods=["POST"])
@roles(Role.CHARITY_STAFF)
@operation(
    "Settle what is left of a closed-out campaign",
    tag=TAG,
    description="Custodian charity staff: each gift's unspent part is refunded or moved to the relief pool, as "
    "its donor chose. Refused while a disbursement is unpaid or the campaign is frozen. Pressing again settles "
    "only what is still left.",
    responses={200: ("What settling did.", SettlementResult)},
    problems={
        403: "Not staff of the custodian charity.",
        404: "No such campaign, or not one the caller may see.",
        409: "Not asked to close out yet, frozen, or disbursements unpaid.",
    },
)
def settle_close_out(campaign_id: int) -> Any:
    campaign = _campaign(campaign_id)
    result = close_out.settle_surplus(campaign, current_account())
    body = {
        "refunds_asked": [list(pair) for pair in result.refunds_asked],
        "moved_to_pool": [list(pair) for pair in result.moved_to_pool],
        "failures": [list(pair) for pair in result.failures],
        "state": _state(_campaign(campaign_id)),
    }
    return jsonify(SettlementResult().dump(body))
