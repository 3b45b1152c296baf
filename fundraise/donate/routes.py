"""Giving pages, a campaign's public gifts and ledger, a donor's history.

- /campaigns/<id>/donate: the donation form (signed-in donor or guest) → services.donations.start_donation →
  the provider's checkout. Bad input re-renders with messages (422) and writes nothing.
- /donations/<id>?t=<token>: the thank-you page with the receipt, for the donor (the signed token of
  fundraise.payments.donation_token, or being the signed-in donor who gave).
- /campaigns/<id>/donations, /campaigns/<id>/ledger: the public list of gifts (names masked) and the public
  statement of the campaign fund (no donor named).
- /me/donations: what the signed-in account gave.

The staff's donation list and refund pages are in fundraise/staff/refunds.py.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_limiter import RequestLimit
from flask_login import current_user
from sqlalchemy import select

from fundraise.access import current_user_or_none, public, signed_in
from fundraise.donate import presenters
from fundraise.donate.forms import DEFAULT_PRESET_YUAN, DonateForm
from fundraise.errors import (
    DomainError,
    ValidationFailed,
    retry_after_seconds,
    retry_moment,
    try_again_at,
)
from fundraise.extensions import db, limiter
from fundraise.models import (
    Campaign,
    Donation,
    DonationStatus,
)
from fundraise.pagination import Page, last_page, parse_page
from fundraise.payments.links import donation_token
from fundraise.pii import public_name
from fundraise.services import donations as donation_service
from fundraise.services.campaigns import get_campaign
from fundraise.web.forms import apply_field_errors

bp = Blueprint("donate", __name__)
GIFTS_PER_PAGE = 20
HISTORY_PER_PAGE = 20
LEDGER_PER_PAGE = 50


@bp.record_once
def _register_helpers(state: BlueprintSetupState) -> None:
    # The campaign page (public blueprint) includes donate/_panel.html, so its helpers are app-wide.
    state.app.jinja_env.globals.update(presenters.template_helpers())


def thanks_url(donation: Donation) -> str:
    """The donor's own link to their thank-you page and receipt."""
    return url_for("donate.thanks", donation_id=donation.id, t=donation_token(donation.id))


# --- giving ----------------------------------------------------------------------------------------------


def _give_again_later(limit: RequestLimit) -> Response | None:
    """Past the limit on gifts started from one address: the form comes back as it was typed, saying when to
    press the button again (rather than an error page that loses it)."""
    try:
        campaign = get_campaign((request.view_args or {})["campaign_id"], current_user_or_none())
    except (DomainError, KeyError):
        return None  # the general 429 page
    lifted = retry_moment(datetime.fromtimestamp(limit.reset_at, UTC))
    flash(
        _(
            "This connection sent the form many times in a short while. What you typed is kept below:"
            " press “Continue to payment” again after %(time)s.",
            time=try_again_at(lifted),
        ),
        "error",
    )
    page, status = _give_page(campaign, DonateForm(), presenters.donation_panel(campaign, recent=0), 429)
    response = make_response(page, status)
    response.headers["Retry-After"] = str(retry_after_seconds(lifted))
    return response


@bp.route("/campaigns/<int:campaign_id>/donate", methods=["GET", "POST"])
@public
@limiter.limit("10 per minute; 60 per hour", methods=["POST"], on_breach=_give_again_later)
def give(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_user_or_none())
    panel = presenters.donation_panel(campaign, recent=0)
    form = DonateForm()
    if request.method == "GET":
        form.preset.data = _default_preset(panel.remaining_fen)
        if current_user.is_authenticated:
            form.display_name.data = current_user.name
        return _give_page(campaign, form, panel)
    if not panel.accepting:
        flash(panel.closed_reason, "error")
        return _give_page(campaign, form, panel, 409)
    if form.validate_on_submit():
        amount = form.amount_fen()
        if amount is None:
            form.custom_amount.errors = [_("Choose an amount or type one in.")]
        else:
            donor = current_user_or_none()
            try:
                _donation, pay_url = donation_service.start_donation(
                    campaign,
                    donor,
                    amount,
                    anonymous=bool(form.anonymous.data),
                    message=form.message.data or "",
                    surplus_choice=form.surplus_choice.data or "",
                    display_name=form.display_name.data or "",
                    return_url=thanks_url,
                    receipt_email="" if donor is not None else (form.email.data or ""),
                )
            except ValidationFailed as error:
                apply_field_errors(form, error, aliases={"amount_fen": "custom_amount"})
            except DomainError as error:
                # Closed meanwhile (target reached), or the provider could not be reached: nothing to pay.
                flash(error.message, "error")
                return _give_page(campaign, form, presenters.donation_panel(campaign, recent=0), error.status)
            else:
                return redirect(pay_url, 303)
    if (form.custom_amount.raw_data or [""])[0].strip():
        form.preset.data = None  # the typed amount is the one in play: no preset shows as chosen
    return _give_page(campaign, form, panel, 422)


def _default_preset(remaining_fen: int) -> str | None:
    """The usual preset, or the largest one the remaining need allows, or none."""
    fits = [yuan * 100 for yuan in (DEFAULT_PRESET_YUAN, 100, 20) if yuan * 100 <= remaining_fen]
    return str(fits[0]) if fits else None


def _give_page(campaign: Campaign, form: DonateForm, panel: presenters.Panel, status: int = 200) -> Any:
    config = current_app.config
    return (
        render_template(
            "donate/give.html",
            campaign=campaign,
            form=form,
            panel=panel,
            min_fen=config["DONATION_MIN_FEN"],
            max_fen=min(config["DONATION_MAX_FEN"], panel.remaining_fen or config["DONATION_MAX_FEN"]),
            capped_by_need=0 < panel.remaining_fen < config["DONATION_MAX_FEN"],
            message_max=config["DONATION_MESSAGE_MAX_CHARS"],
            amount_errors=list(form.custom_amount.errors or []) + list(form.preset.errors or []),
        ),
        status,
    )


# --- after paying ----------------------------------------------------------------------------------------


def _own_donation(donation_id: int) -> Donation:
    """The donation, for its donor: by the signed token in the link, or as the signed-in account that gave."""
    donation = db.session.get(Donation, donation_id)
    if donation is None:
        abort(404)
    token = request.args.get("t", "")
    by_token = bool(token) and hmac.compare_digest(token, donation_token(donation_id))
    by_account = current_user.is_authenticated and donation.donor_id == current_user.id
    if not (by_token or by_account):
        abort(404)
    return donation


def _pay_url(donation: Donation) -> str | None:
    """Where the donor can (still) pay a donation that is not paid yet."""
    if (
        donation.status not in (DonationStatus.CREATED, DonationStatus.FAILED)
        or not donation.provider_payment_id
    ):
        return None
    if donation.provider == "sandbox":
        return url_for("sandbox.checkout", payment_id=donation.provider_payment_id)
    return url_for(
        "payments.stripe_pay",
        donation_id=donation.id,
        t=donation_token(donation.id),
        next=thanks_url(donation),
    )


@bp.route("/donations/<int:donation_id>")
@public
def thanks(donation_id: int) -> Any:
    donation = _own_donation(donation_id)
    response = current_app.make_response(
        render_template(
            "donate/thanks.html",
            donation=donation,
            campaign=db.session.get(Campaign, donation.campaign_id),
            pay_url=_pay_url(donation),
            shown_name=public_name(donation),
            own_link=thanks_url(donation),
            receipt_to=_masked_email(_receipt_address(donation)),
            uses=presenters.gift_uses([donation]).get(donation.id, []),
        )
    )
    # The page names the donor and carries their private link: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _receipt_address(donation: Donation) -> str:
    if donation.receipt_email:
        return donation.receipt_email
    return donation.donor.email if donation.donor is not None else ""


def _masked_email(address: str) -> str:
    """'wang.fang@example.cn' -> 'w***@example.cn'."""
    local, _at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if local and domain else ""


@bp.route("/me/donations")
@signed_in
def history() -> Any:
    listing = presenters.donor_history(
        current_user.id, parse_page(request.args.get("page")), HISTORY_PER_PAGE
    )
    campaigns = _campaigns_by_id({d.campaign_id for d in listing.items})
    return render_template(
        "donate/history.html",
        listing=listing,
        campaigns=campaigns,
        thanks_url=thanks_url,
        uses=presenters.gift_uses(listing.items),
    )


def _campaigns_by_id(ids: set[int]) -> dict[int, Campaign]:
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Campaign).where(Campaign.id.in_(ids)))}


# --- what the public sees --------------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/donations")
@public
def gifts(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_user_or_none())
    listing = presenters.public_gifts(campaign.id, parse_page(request.args.get("page")), GIFTS_PER_PAGE)
    return render_template(
        "donate/gifts.html", campaign=campaign, listing=listing, panel=presenters.donation_panel(campaign, 0)
    )


@bp.route("/campaigns/<int:campaign_id>/ledger")
@public
def fund_ledger(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_user_or_none())
    statement = presenters.fund_statement(campaign.id)
    newest_first = list(reversed(statement.lines))
    total = len(newest_first)
    number = min(parse_page(request.args.get("page")), last_page(total, LEDGER_PER_PAGE))
    listing = Page(
        newest_first[(number - 1) * LEDGER_PER_PAGE : number * LEDGER_PER_PAGE],
        number,
        LEDGER_PER_PAGE,
        total,
    )
    return render_template(
        "donate/ledger.html",
        campaign=campaign,
        statement=statement,
        listing=listing,
        raised=donation_service.raised_fen(campaign),
    )
