"""Starting a donation: check the gift, store it, create the payment at the provider and send the donor
there. Nothing counts as given until the provider's event (fundraise.services.donations.events)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from fundraise import audit
from fundraise.errors import IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, Donation, DonationStatus, SurplusChoice, User
from fundraise.money import format_yuan
from fundraise.payments.links import donation_token
from fundraise.payments.provider import ProviderError
from fundraise.services.donations.payment import provider, set_status
from fundraise.services.donations.totals import remaining_need_fen
from fundraise.text_input import text_problem
from fundraise.unit_of_work import unit_of_work

# An e-mail address's shape (something@domain.tld, no spaces); whether it exists is the mail server's business.
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def start_donation(
    campaign: Campaign,
    donor: User | None,
    amount_fen: int,
    anonymous: bool = False,
    message: str = "",
    surplus_choice: str = SurplusChoice.REFUND,
    display_name: str = "",
    *,
    return_url: str | Callable[[Donation], str] | None = None,
    idempotency_key: str | None = None,
    guest_scope: str | None = None,
    receipt_email: str = "",
) -> tuple[Donation, str]:
    """Check the gift, store the donation, create the payment at the provider (with the donation's
    idempotency key) and return where the donor pays. Nothing is recorded as given until the provider's event.

    `idempotency_key`, when the caller has one (an API client's retry, a double-clicked form), makes a repeat
    by the same caller return the same donation and payment instead of a second one. A key belongs to its
    caller: the donor's account, or for a guest `guest_scope` (a random id kept in the guest's session), so
    another caller sending the same key gets a donation of their own, never someone else's. `return_url` may
    be a function of the stored donation (a thank-you page named by its id). `receipt_email` is where a
    guest's receipt goes.
    """
    if idempotency_key is not None and not (
        isinstance(idempotency_key, str) and 8 <= len(idempotency_key) <= 64
    ):
        raise ValidationFailed(_("The request key must be 8 to 64 characters."))
    if idempotency_key:
        idempotency_key = caller_key(idempotency_key, donor, guest_scope)
        existing = db.session.scalar(select(Donation).where(Donation.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.campaign_id != campaign.id or existing.amount_fen != amount_fen:
                raise ValidationFailed(_("This request was already used for a different donation."))
            return existing, _payment_redirect(existing, return_url)

    settings = current_app.config
    if campaign.state != CampaignState.FUNDRAISING:
        raise IllegalTransition(_("This campaign is not taking donations."))
    errors: dict[str, list[str]] = {}
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        errors["amount_fen"] = [_("Enter the amount in whole fen (an integer).")]
    elif amount_fen < settings["DONATION_MIN_FEN"]:
        errors["amount_fen"] = [
            _(
                "The smallest gift is %(yuan)s yuan.",
                yuan=format_yuan(settings["DONATION_MIN_FEN"], symbol=False),
            )
        ]
    elif amount_fen > settings["DONATION_MAX_FEN"]:
        errors["amount_fen"] = [
            _(
                "One online gift is at most %(yuan)s yuan.",
                yuan=format_yuan(settings["DONATION_MAX_FEN"], symbol=False),
            )
        ]
    else:
        remaining = remaining_need_fen(campaign)
        if remaining <= 0:
            raise IllegalTransition(_("This campaign has reached its target and is not taking donations."))
        if amount_fen > remaining:
            errors["amount_fen"] = [
                _(
                    "The campaign needs only %(yuan)s yuan more. Please give at most that.",
                    yuan=format_yuan(remaining, symbol=False),
                )
            ]
    message = (message or "").strip()
    if len(message) > settings["DONATION_MESSAGE_MAX_CHARS"]:
        errors["message"] = [_("At most %(n)d characters.", n=settings["DONATION_MESSAGE_MAX_CHARS"])]
    elif problem := text_problem(message, one_line=False):
        errors["message"] = [problem]
    display_name = (display_name or "").strip() or (donor.name if donor is not None else "")
    if len(display_name) > 64:
        errors["display_name"] = [_("At most %(n)d characters.", n=64)]
    elif problem := text_problem(display_name, one_line=True):
        errors["display_name"] = [problem]
    receipt_email = (receipt_email or "").strip()
    if receipt_email and (len(receipt_email) > 254 or not EMAIL_SHAPE.fullmatch(receipt_email)):
        errors["email"] = [_("Enter an e-mail address like name@example.cn.")]
    if surplus_choice not in set(SurplusChoice):
        errors["surplus_choice"] = [_("Choose what happens to money left over.")]
    if not isinstance(anonymous, bool):
        errors["anonymous"] = [_("Choose whether to give anonymously.")]
    if errors:
        raise ValidationFailed(_("Please correct the donation."), fields=errors)

    # Stored before the provider is called (its own unit of work): a crash after the call leaves a donation
    # whose key makes the retry find the same payment, and whose metadata lets the provider's event find it.
    with unit_of_work():
        client = provider()
        donation = Donation(
            campaign_id=campaign.id,
            donor_id=donor.id if donor is not None else None,
            display_name=display_name,
            anonymous=anonymous,
            message=message,
            amount_fen=amount_fen,
            surplus_choice=str(surplus_choice),
            status=DonationStatus.CREATED,
            provider=client.name,
            idempotency_key=idempotency_key or f"donation-{uuid.uuid4().hex}",
            receipt_email=receipt_email,
        )
        db.session.add(donation)
        db.session.flush()
        audit.record(
            "donation.start",
            "donation",
            donation.id,
            actor=donor,
            after={"campaign_id": campaign.id, "amount_fen": amount_fen, "status": DonationStatus.CREATED},
        )
    return donation, _payment_redirect(donation, return_url)


def caller_key(key: str, donor: User | None, guest_scope: str | None) -> str:
    """The stored form of a caller's idempotency key: bound to the caller, fixed length (it also goes to the
    payment provider as that call's idempotency key)."""
    if donor is not None:
        caller = f"user:{donor.id}"
    elif guest_scope:
        caller = f"guest:{guest_scope}"
    else:
        raise ValueError("a guest's idempotency key needs the guest's scope")
    digest = hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
    return f"idem-{digest[:59]}"


def _payment_redirect(donation: Donation, return_url: str | Callable[[Donation], str] | None) -> str:
    if callable(return_url):
        return_url = return_url(donation)
    return_url = return_url or url_for(
        "payments.donation_status", donation_id=donation.id, t=donation_token(donation.id)
    )
    try:
        created = provider().create_payment(donation, return_url)
    except ProviderError as error:
        with unit_of_work():
            donation = db.session.get_one(Donation, donation.id, populate_existing=True)
            if donation.status == DonationStatus.CREATED and donation.provider_payment_id is None:
                set_status(donation, DonationStatus.FAILED, "the payment provider could not be reached")
        raise ProviderError(
            _("The payment service is not available right now. Please try again later.")
        ) from error
    with unit_of_work():
        if donation.provider_payment_id is None:
            donation.provider_payment_id = created.provider_payment_id
    return created.redirect_url
