"""API v1 for consents (PIPL): the privacy notice's version and retention table, a campaign's consents, giving
one (each purpose separately, as on the pages) and withdrawing one. The rules are fundraise.services.consents';
a submission without the consents it needs is refused by POST /campaigns/{id}/submit with `consent.*` errors."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_babel import gettext as _
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from fundraise.access import current_account, is_applicant_side, public, roles
from fundraise.api.common import load_json
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.errors import NotFound
from fundraise.extensions import db
from fundraise.models import Campaign, Consent, ConsentBasis, ConsentPurpose, Role
from fundraise.models.consents import GUARDIAN_RELATIONSHIPS, UNABLE_REASONS
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.retention_policy import RULES
from fundraise.services import consents
from fundraise.services.campaigns import get_campaign

TAG = "privacy"
APPLICANT_ROLES = (Role.FAMILY, Role.SOCIAL_WORKER)


class ConsentSchema(Schema):
    id = fields.Integer()
    campaign_id = fields.Integer(allow_none=True)
    purpose = fields.String(validate=validate.OneOf(list(ConsentPurpose)))
    basis = fields.String(validate=validate.OneOf(list(ConsentBasis)))
    guardian_relationship = fields.String(allow_none=True)
    unable_reason_code = fields.String(allow_none=True)
    notice_version = fields.String()
    given_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    superseded_at = fields.DateTime(allow_none=True)
    in_force = fields.Boolean()
    own_consent_requested_at = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "A guardian's consent whose patient turned 14: their own consent is asked for."
        },
    )


class ConsentList(Schema):
    consents = fields.List(fields.Nested(ConsentSchema), metadata={"description": "Newest first."})


class ConsentInput(Schema):
    class Meta:
        unknown = RAISE

    purpose = fields.String(required=True, validate=validate.OneOf(list(ConsentPurpose)))
    basis = fields.String(
        required=True,
        validate=validate.OneOf(list(ConsentBasis)),
        metadata={
            "description": "guardian for a patient under 14 (with guardian_relationship); own when the family's "
            "account holder is the patient; otherwise patient_confirmed, or patient_unable with a reason."
        },
    )
    guardian_relationship = fields.String(validate=validate.OneOf(GUARDIAN_RELATIONSHIPS))
    unable_reason_code = fields.String(validate=validate.OneOf(UNABLE_REASONS))
    unable_reason_text = fields.String(validate=validate.Length(max=consents.UNABLE_TEXT_MAX))
    agree = fields.Boolean(
        required=True,
        validate=validate.Equal(True),
        metadata={"description": "Must be true: the person read the terms and agreed."},
    )
    notice_version = fields.String(
        required=True, metadata={"description": "The privacy notice version shown (GET /privacy-notice)."}
    )


class RetentionRuleSchema(Schema):
    kind = fields.String()
    days = fields.Integer(allow_none=True)
    after_close_days = fields.Integer(allow_none=True)
    starts = fields.String()
    basis = fields.String()


class NoticeSchema(Schema):
    version = fields.String()
    retention = fields.List(fields.Nested(RetentionRuleSchema))


class WithdrawalSchema(Schema):
    consent = fields.Nested(ConsentSchema)
    effects = fields.List(fields.String(), metadata={"description": "What the withdrawal did, as codes."})


@bp.route("/privacy-notice", methods=["GET"])
@public
@operation(
    "The privacy notice's version and retention table",
    tag=TAG,
    description="The version a consent must cite, and how long each kind of record is kept (the page is "
    "/privacy).",
    responses={200: ("The notice.", NoticeSchema)},
)
def privacy_notice() -> Any:
    return jsonify(NoticeSchema().dump({"version": NOTICE_VERSION, "retention": list(RULES)}))


def _campaign(campaign_id: int) -> Campaign:
    user = current_account()
    campaign = get_campaign(campaign_id, user)
    if not is_applicant_side(user, campaign):
        raise NotFound(_("We could not find that campaign."))
    return campaign


@bp.route("/campaigns/<int:campaign_id>/consents", methods=["GET"])
@roles(*APPLICANT_ROLES)
@operation(
    "A campaign's consents",
    tag=TAG,
    description="Every consent given for the campaign, newest first, with whether it is still in force.",
    responses={200: ("The consents.", ConsentList)},
)
def list_consents(campaign_id: int) -> Any:
    campaign = _campaign(campaign_id)
    rows = db.session.scalars(
        select(Consent)
        .where(Consent.campaign_id == campaign.id)
        .order_by(Consent.given_at.desc(), Consent.id.desc())
    ).all()
    return jsonify(ConsentList().dump({"consents": rows}))


@bp.route("/campaigns/<int:campaign_id>/consents", methods=["POST"])
@roles(*APPLICANT_ROLES)
@operation(
    "Give a consent",
    tag=TAG,
    description="One purpose per request (separate consent): sensitive_processing before submission, "
    "public_page for the public page. A consent in force for the same purpose is replaced.",
    body=ConsentInput,
    responses={201: ("The consent recorded.", ConsentSchema)},
    problems={
        409: "The campaign has ended.",
        422: "`errors` names what is wrong (basis, notice_version...).",
    },
)
def give_consent(campaign_id: int) -> Any:
    campaign = _campaign(campaign_id)
    data = load_json(ConsentInput())
    consent = consents.give(
        campaign,
        current_account(),
        consents.ConsentInput(
            purpose=data["purpose"],
            basis=data["basis"],
            guardian_relationship=data.get("guardian_relationship"),
            unable_reason_code=data.get("unable_reason_code"),
            unable_reason_text=data.get("unable_reason_text", ""),
            notice_version=data["notice_version"],
        ),
    )
    response = jsonify(ConsentSchema().dump(consent))
    response.status_code = 201
    return response


@bp.route("/consents/<int:consent_id>/withdraw", methods=["POST"])
@roles(Role.FAMILY)
@operation(
    "Withdraw a consent",
    tag=TAG,
    description="Public page: the campaign leaves public view and fundraising closes. Sensitive processing: "
    "also the page consent ends and the campaign is cancelled where the state machine allows. Payments made "
    "stay paid; accounting records are kept.",
    responses={200: ("The consent and what withdrawing did.", WithdrawalSchema)},
    problems={404: "No such consent, or not one of the caller's campaigns.", 409: "No longer in force."},
)
def withdraw_consent(consent_id: int) -> Any:
    consent = consents.consent_for_family(consent_id, current_account())
    effects = consents.withdrawal_effects(consent) if consent.in_force else []
    consents.withdraw(consent, current_account())
    return jsonify(WithdrawalSchema().dump({"consent": consent, "effects": effects}))
