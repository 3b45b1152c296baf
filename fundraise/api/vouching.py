"""API v1 for friends and relatives vouching for a campaign (亲友证实) and for sharing one: the same rules as the
campaign page (fundraise.services.vouching; fundraise/public/routes.py's short link and poster)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for
from flask_babel import gettext as _
from marshmallow import Schema, fields, validate

from fundraise.access import current_account, current_user_or_none, public, signed_in
from fundraise.api.common import load_json
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.errors import NotFound, problem, retry_after_seconds
from fundraise.models import Campaign, Voucher
from fundraise.models.vouching import VOUCHER_RELATIONSHIPS
from fundraise.pii import mask_name
from fundraise.public.sharing import qr_svg
from fundraise.services import vouching
from fundraise.services.campaigns import get_campaign
from fundraise.states import PUBLIC_STATES

TAG = "campaigns"


class VoucherInput(Schema):
    relationship = fields.String(
        required=True,
        validate=validate.OneOf(VOUCHER_RELATIONSHIPS),
        metadata={"description": "How the person knows the family."},
    )
    statement = fields.String(
        required=True,
        validate=validate.Length(min=vouching.STATEMENT_MIN, max=vouching.STATEMENT_MAX),
        metadata={"description": "What they confirm, in their own words (one line)."},
    )


class VoucherSchema(Schema):
    id = fields.Integer()
    name = fields.String(metadata={"description": "The person's name, masked (张**)."})
    relationship = fields.String(validate=validate.OneOf(VOUCHER_RELATIONSHIPS))
    relationship_label = fields.String(metadata={"description": "`relationship` in the caller's language."})
    statement = fields.String()
    created_at = fields.DateTime()


class VoucherList(Schema):
    total = fields.Integer(metadata={"description": "Standing vouchers (withdrawn ones are not counted)."})
    items = fields.List(
        fields.Nested(VoucherSchema), metadata={"description": f"The newest {vouching.SHOWN}, newest first."}
    )
    mine = fields.Nested(
        VoucherSchema, allow_none=True, metadata={"description": "The caller's own, if any."}
    )
    may_vouch = fields.Boolean(
        metadata={"description": "Whether the campaign takes vouchers from the caller."}
    )


class ShareSchema(Schema):
    short_url = fields.String(metadata={"description": "The short link the QR code and the poster carry."})
    poster_url = fields.String(
        metadata={"description": "A PNG poster for chat groups (title, raised, QR code)."}
    )
    qr_svg = fields.String(metadata={"description": "The short link's QR code as SVG markup."})


def _body(voucher: Voucher) -> dict[str, Any]:
    return {
        "id": voucher.id,
        "name": mask_name(voucher.user.name),
        "relationship": voucher.relationship_to_family,
        "relationship_label": str(vouching.RELATIONSHIP_LABELS.get(voucher.relationship_to_family, "")),
        "statement": voucher.statement,
        "created_at": voucher.created_at,
    }


def _public_campaign(campaign_id: int) -> Campaign:
    found = get_campaign(campaign_id, current_user_or_none())
    if found.state not in PUBLIC_STATES:
        raise NotFound(_("We could not find that campaign."))
    return found


@bp.route("/campaigns/<int:campaign_id>/vouchers", methods=["GET"])
@public
@operation(
    "Who vouches for a campaign",
    tag=TAG,
    description="Friends and relatives confirming the family's story in their own words: testimony, not a "
    "check. Names are masked.",
    responses={200: ("The standing vouchers.", VoucherList)},
    problems={404: "No such public campaign."},
)
def list_vouchers(campaign_id: int) -> Any:
    campaign = _public_campaign(campaign_id)
    viewer = current_user_or_none()
    standing = vouching.standing(campaign)
    mine = vouching.mine(campaign, viewer)
    return VoucherList().dump(
        {
            "total": standing.total,
            "items": [_body(v) for v in standing.items],
            "mine": _body(mine) if mine else None,
            "may_vouch": viewer is not None and vouching.may_vouch(campaign, viewer) and mine is None,
        }
    )


@bp.route("/campaigns/<int:campaign_id>/vouchers", methods=["POST"])
@signed_in
@operation(
    "Vouch for a campaign",
    tag=TAG,
    description="Once per person and campaign, at most VOUCHES_PER_DAY a day; not by the family or their "
    "social worker; only for a verified campaign.",
    body=VoucherInput,
    responses={201: ("The voucher, as shown on the campaign's page.", VoucherSchema)},
    problems={
        404: "No such public campaign.",
        422: "A field is wrong, the campaign takes no vouchers, or the caller vouched already.",
        429: "The caller vouched as often as a day allows; Retry-After says when to try again.",
    },
)
def create_voucher(campaign_id: int) -> Any:
    campaign = _public_campaign(campaign_id)
    data = load_json(VoucherInput())
    try:
        voucher = vouching.vouch(campaign, current_account(), data["relationship"], data["statement"])
    except vouching.TooManyVouchers as error:
        response = problem(429, "Too Many Requests", error.message)
        response.headers["Retry-After"] = str(retry_after_seconds(error.retry_at))
        return response
    response = jsonify(VoucherSchema().dump(_body(voucher)))
    response.status_code = 201
    return response


@bp.route("/campaigns/<int:campaign_id>/vouchers/mine", methods=["DELETE"])
@signed_in
@operation(
    "Withdraw one's voucher",
    tag=TAG,
    description="The caller's standing voucher for the campaign is withdrawn (kept in the audit log).",
    responses={204: ("Withdrawn.", None)},
    problems={404: "No such public campaign, or the caller has no standing voucher for it."},
)
def withdraw_voucher(campaign_id: int) -> Any:
    campaign = _public_campaign(campaign_id)
    if not vouching.withdraw(campaign, current_account()):
        raise NotFound(_("You have no standing voucher for this campaign."))
    return "", 204


@bp.route("/campaigns/<int:campaign_id>/share", methods=["GET"])
@public
@operation(
    "Share a campaign",
    tag=TAG,
    description="The short link, the poster's address and the QR code of a public campaign.",
    responses={200: ("What to share.", ShareSchema)},
    problems={404: "No such public campaign."},
)
def share_campaign(campaign_id: int) -> Any:
    campaign = _public_campaign(campaign_id)
    short = url_for("public.short_link", campaign_id=campaign.id, _external=True)
    return ShareSchema().dump(
        {
            "short_url": short,
            "poster_url": url_for("public.poster", campaign_id=campaign.id, _external=True),
            "qr_svg": qr_svg(short),
        }
    )
