"""API v1 for giving: start a donation, a donor's own donations, a campaign's public gifts and fund ledger.

Views on the API blueprint (fundraise.api.routes.bp), each described for the OpenAPI document; the rules stay
in fundraise.services.donations, the wording and lists in fundraise.donate.presenters.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import jsonify, request, session, url_for
from flask_babel import gettext as _
from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from fundraise.access import current_account, current_user_or_none, public, signed_in
from fundraise.api.common import load_json, load_query, page_links
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.api.schemas import MAX_PER_PAGE, Fen, StrictBoolean, Yuan
from fundraise.donate import presenters
from fundraise.errors import ValidationFailed
from fundraise.extensions import limiter
from fundraise.models import Donation, DonationStatus, SurplusChoice
from fundraise.pagination import MAX_PAGE
from fundraise.payments.links import donation_token
from fundraise.pii import public_name
from fundraise.services import donations as donation_service
from fundraise.services.campaigns import get_campaign

# --- schemas ---------------------------------------------------------------------------------------------


class DonationStart(Schema):
    """A gift to start. The donor pays at `pay_url` in the answer; nothing counts as given until the payment
    provider confirms it."""

    class Meta:
        unknown = RAISE

    amount_fen = Fen(
        required=True,
        metadata={
            "description": "The gift in fen: at least DONATION_MIN_FEN (1 yuan), at most DONATION_MAX_FEN "
            "(50,000 yuan) and at most what the campaign still needs.",
            "example": 5000,
        },
    )
    anonymous = StrictBoolean(load_default=False, metadata={"description": "Show no name in public."})
    display_name = fields.String(
        load_default="",
        validate=validate.Length(max=64),
        metadata={
            "description": "The name shown (masked to its first character); defaults to the account's."
        },
    )
    message = fields.String(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "Shown publicly with the gift; at most DONATION_MESSAGE_MAX_CHARS (200)."},
    )
    surplus_choice = fields.String(
        load_default=str(SurplusChoice.REFUND),
        validate=validate.OneOf([str(choice) for choice in SurplusChoice]),
        metadata={"description": "Money left after treatment: refunded pro rata, or moved to a relief pool."},
    )
    email = fields.String(
        validate=validate.Length(max=254),
        metadata={"description": "Where the receipt is sent. Required without an account (guests)."},
    )


class DonationStarted(Schema):
    donation_id = fields.Integer()
    status = fields.String(validate=validate.OneOf([str(status) for status in DonationStatus]))
    pay_url = fields.String(metadata={"description": "Send the donor here to pay."})
    receipt_url = fields.String(
        metadata={"description": "The donor's private thank-you page with the receipt (a signed link)."}
    )


class PageQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class _Paged(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    next = fields.String(allow_none=True, metadata={"description": "The next page, or null on the last."})
    prev = fields.String(
        allow_none=True, metadata={"description": "The previous page, or null on the first."}
    )


class MyDonation(Schema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    campaign_title = fields.Function(lambda d: d.campaign.title, metadata={"type": "string"})
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")
    refunded_fen = Fen()
    refunded_yuan = Yuan("refunded_fen")
    status = fields.String(validate=validate.OneOf([str(status) for status in DonationStatus]))
    status_label = fields.Function(lambda d: presenters.status_label(d.status), metadata={"type": "string"})
    receipt_number = fields.String(allow_none=True)
    anonymous = fields.Boolean()
    display_name = fields.String()
    message = fields.String()
    surplus_choice = fields.String(validate=validate.OneOf([str(choice) for choice in SurplusChoice]))
    created_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    receipt_url = fields.Function(
        lambda d: _receipt_url(d),
        metadata={"type": "string", "description": "The thank-you page and receipt."},
    )


class MyDonationPage(_Paged):
    items = fields.List(fields.Nested(MyDonation))


class PublicGift(Schema):
    """A received gift as the public sees it: no identity beyond a masked name."""

    name = fields.Function(
        lambda d: public_name(d),
        metadata={
            "type": ["string", "null"],
            "description": "Masked to its first character and two asterisks whatever its length (张**), or null when anonymous.",
            "example": "张**",
        },
    )
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")
    refunded_fen = Fen()
    message = fields.String()
    confirmed_at = fields.DateTime()


class PublicGiftPage(_Paged):
    items = fields.List(fields.Nested(PublicGift))


class FundLedgerLine(Schema):
    at = fields.DateTime()
    kind = fields.String(metadata={"example": "capture"})
    label = fields.String(metadata={"example": "Donation received"})
    amount_fen = fields.Integer(metadata={"description": "Into the fund (positive) or out of it (negative)."})
    amount_yuan = Yuan("amount_fen")
    balance_fen = fields.Integer(metadata={"description": "The fund after this line."})
    balance_yuan = Yuan("balance_fen")


class FundLedger(_Paged):
    campaign_id = fields.Integer()
    raised_fen = Fen(metadata={"description": "What donors gave and kept (after refunds and disputes)."})
    raised_yuan = Yuan("raised_fen")
    balance_fen = fields.Integer(metadata={"description": "What the fund holds now."})
    balance_yuan = Yuan("balance_fen")
    money_in_fen = Fen()
    money_out_fen = Fen()
    items = fields.List(fields.Nested(FundLedgerLine), metadata={"description": "Oldest first."})


# --- views -----------------------------------------------------------------------------------------------


def _guest_scope() -> str:
    """A random id for this guest, kept in their session: whose Idempotency-Keys are whose. A guest client
    that keeps no cookies gets a new one each time, so its retries start new donations (none is paid until
    the donor pays), and never find another caller's."""
    if "giver" not in session:
        session["giver"] = secrets.token_urlsafe(16)
    return str(session["giver"])


def _receipt_url(donation: Donation) -> str:
    return url_for("donate.thanks", donation_id=donation.id, t=donation_token(donation.id), _external=True)


def _absolute(url: str) -> str:
    return request.host_url.rstrip("/") + url if url.startswith("/") else url


@bp.route("/campaigns/<int:campaign_id>/donations", methods=["POST"])
@public
@limiter.limit("10 per minute; 60 per hour")
@operation(
    "Start a donation",
    tag="donations",
    description="Creates the payment at the provider and answers where the donor pays (`pay_url`). The gift "
    "is recorded only when the provider's signed event confirms it; `receipt_url` then shows the receipt. "
    "Signed-in callers give as their account; guests must give `email`. Send an `Idempotency-Key` header "
    "(8 to 64 characters) to make a retry return the same donation instead of a second one.",
    body=DonationStart,
    responses={201: ("The donation, waiting for payment.", DonationStarted)},
    problems={
        409: "The campaign is not taking donations (not fundraising, or its target is reached).",
        422: "Validation failed (amount limits, remaining need, message length); `errors` gives messages by "
        "field.",
        429: "Too many donations started from this address; wait a minute.",
        502: "The payment provider could not be reached; nothing was charged.",
    },
)
def start_donation(campaign_id: int) -> Any:
    donor = current_user_or_none()
    campaign = get_campaign(campaign_id, donor)
    data = load_json(DonationStart())
    email = (data.pop("email", None) or "").strip()
    if donor is None and not email:
        raise ValidationFailed(
            _("Please correct the marked fields."),
            fields={"email": [_("Give an e-mail address for the receipt, or authenticate.")]},
        )
    donation, pay_url = donation_service.start_donation(
        campaign,
        donor,
        data["amount_fen"],
        anonymous=data["anonymous"],
        message=data["message"],
        surplus_choice=data["surplus_choice"],
        display_name=data["display_name"],
        return_url=lambda d: url_for("donate.thanks", donation_id=d.id, t=donation_token(d.id)),
        idempotency_key=request.headers.get("Idempotency-Key"),
        guest_scope=_guest_scope() if donor is None else None,
        receipt_email=email,
    )
    response = jsonify(
        DonationStarted().dump(
            {
                "donation_id": donation.id,
                "status": donation.status,
                "pay_url": _absolute(pay_url),
                "receipt_url": _receipt_url(donation),
            }
        )
    )
    response.status_code = 201
    return response


@bp.route("/me/donations", methods=["GET"])
@signed_in
@operation(
    "My donations",
    tag="donations",
    description="Every donation the caller's account started, newest first, whatever became of it.",
    query=PageQuery,
    responses={200: ("One page of the caller's donations.", MyDonationPage)},
)
def my_donations() -> Any:
    query = load_query(PageQuery())
    listing = presenters.donor_history(current_account().id, query["page"], query["per_page"])
    body = page_links("api.my_donations", listing.number, listing.per_page, listing.total)
    body["items"] = listing.items
    return MyDonationPage().dump(body)


@bp.route("/campaigns/<int:campaign_id>/donations", methods=["GET"])
@public
@operation(
    "A campaign's donations (public)",
    tag="donations",
    description="Received gifts, newest first. Names are masked to their first character; anonymous gifts "
    "have no name.",
    query=PageQuery,
    responses={200: ("One page of gifts.", PublicGiftPage)},
)
def campaign_donations(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_user_or_none())
    query = load_query(PageQuery())
    listing = presenters.public_gifts(campaign.id, query["page"], query["per_page"])
    body = page_links(
        "api.campaign_donations", listing.number, listing.per_page, listing.total, campaign_id=campaign.id
    )
    body["items"] = listing.items
    return PublicGiftPage().dump(body)


@bp.route("/campaigns/<int:campaign_id>/ledger", methods=["GET"])
@public
@operation(
    "A campaign fund's public ledger",
    tag="donations",
    description="Every movement of the campaign's fund, oldest first, with the running balance: donations in, "
    "processing fees, refunds, dispute withdrawals and payouts to the hospital. No donor is named.",
    query=PageQuery,
    responses={200: ("One page of the statement.", FundLedger)},
)
def campaign_ledger(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_user_or_none())
    query = load_query(PageQuery())
    statement = presenters.fund_statement(campaign.id)
    per_page, total = query["per_page"], len(statement.lines)
    page = min(query["page"], max(1, -(-total // per_page)))
    body = page_links("api.campaign_ledger", page, per_page, total, campaign_id=campaign.id)
    body.update(
        campaign_id=campaign.id,
        raised_fen=donation_service.raised_fen(campaign),
        balance_fen=statement.balance_fen,
        money_in_fen=statement.money_in_fen,
        money_out_fen=statement.money_out_fen,
        items=statement.lines[(page - 1) * per_page : page * per_page],
    )
    return FundLedger().dump(body)
