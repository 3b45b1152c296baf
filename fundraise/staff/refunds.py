"""Staff pages for donations and refunds, on the staff blueprint (charity staff and admins).

- /staff/donations?campaign=<id>: a campaign's donations with refund forms (without a campaign: the campaigns
  with donations to choose from, searched by title or number, and the cases with an upheld report).
- /staff/donations/<id>/refund: refund (part of) one donation. A refused refund shows the page again with the
  reason beside that donation, where the person is; the form's address ends in the donation's anchor.
- /staff/campaigns/<id>/refund-all: refund every donor after an upheld report.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from fundraise import ledger
from fundraise.access import roles
from fundraise.errors import DomainError, NotFound
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    Campaign,
    CampaignReport,
    CampaignState,
    Donation,
    DonationStatus,
    RefundStatus,
    ReportStatus,
    Role,
)
from fundraise.money import format_yuan
from fundraise.pagination import Page, last_page, parse_page
from fundraise.services import donations as donation_service
from fundraise.staff.forms import RefundAllForm, RefundForm
from fundraise.staff.routes import bp

REFUNDERS = (Role.CHARITY_STAFF, Role.ADMIN)
STAFF_PER_PAGE = 50
# The campaigns staff choose from: the public ones that have taken money (verified ones have not yet).
PICKABLE_STATES = (CampaignState.FUNDRAISING, CampaignState.CLOSED, CampaignState.SUSPENDED)
PICK_PER_PAGE = 20
# A title is at most 80 characters; a longer search cannot match.
SEARCH_MAX = 80


def _campaign_for_staff(campaign_id: int | None) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id) if campaign_id else None
    if campaign is None:
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _upheld_reports(campaign_id: int) -> list[CampaignReport]:
    return list(
        db.session.scalars(
            select(CampaignReport)
            .where(CampaignReport.campaign_id == campaign_id, CampaignReport.status == ReportStatus.UPHELD)
            .order_by(CampaignReport.handled_at.desc(), CampaignReport.id.desc())
        )
    )


def _staff_page(
    campaign: Campaign,
    status: int = 200,
    *,
    refused: int | None = None,
    refund_form: RefundForm | None = None,
    refusal: list[str] | None = None,
) -> Any:
    """The campaign's donations, one page of them. After a refused refund: `refused` is that donation's id,
    `refund_form` what was typed (with the fields' errors) and `refusal` why the refund was not made; the
    template shows them in the donation's row."""
    where = Donation.campaign_id == campaign.id
    total = db.session.scalar(select(func.count()).select_from(Donation).where(where)) or 0
    number = min(parse_page(request.args.get("page")), last_page(total, STAFF_PER_PAGE))
    donations = list(
        db.session.scalars(
            select(Donation)
            .where(where)
            .order_by(Donation.created_at.desc(), Donation.id.desc())
            .limit(STAFF_PER_PAGE)
            .offset((number - 1) * STAFF_PER_PAGE)
        )
    )
    fund = ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign.id)
    response = current_app.make_response(
        (
            render_template(
                "donate/staff_donations.html",
                campaign=campaign,
                listing=Page(donations, number, STAFF_PER_PAGE, total),
                refundable={
                    d.id: donation_service.refundable_fen(d)
                    for d in donations
                    if d.status == DonationStatus.SUCCEEDED
                },
                fund_balance=ledger.balance(fund) if fund is not None else 0,
                raised=donation_service.raised_fen(campaign),
                upheld=_upheld_reports(campaign.id),
                refused=refused,
                refund_form=refund_form,
                refusal=refusal or [],
            ),
            status,
        )
    )
    response.headers["Cache-Control"] = "no-store"  # donors' e-mail addresses
    return response


@bp.route("/donations")
@roles(*REFUNDERS)
def donations() -> Any:
    campaign_id = request.args.get("campaign", type=int)
    if campaign_id is None:
        return _pick_page()
    return _staff_page(_campaign_for_staff(campaign_id))


def _pick_page() -> Any:
    """The campaigns with donations, newest change first, searched by title or number; and the cases with an
    upheld report (whose donors may all be refunded)."""
    search = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    gifts = (
        select(Donation.campaign_id, func.count(Donation.id).label("gifts"))
        .where(Donation.status == DonationStatus.SUCCEEDED)
        .group_by(Donation.campaign_id)
        .subquery()
    )
    query = (
        select(Campaign, gifts.c.gifts)
        .join(gifts, gifts.c.campaign_id == Campaign.id)
        .where(Campaign.state.in_(PICKABLE_STATES))
    )
    if search:
        number = search.removeprefix("#").strip()
        matches = Campaign.title.icontains(search, autoescape=True)
        if number.isascii() and number.isdigit() and len(number) < 10:
            matches = or_(matches, Campaign.id == int(number))
        query = query.where(matches)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    number_of_page = min(parse_page(request.args.get("page")), last_page(total, PICK_PER_PAGE))
    rows = db.session.execute(
        query.order_by(Campaign.state_changed_at.desc(), Campaign.id.desc())
        .limit(PICK_PER_PAGE)
        .offset((number_of_page - 1) * PICK_PER_PAGE)
    ).all()
    upheld = list(
        db.session.scalars(
            select(Campaign)
            .where(
                Campaign.id.in_(
                    select(CampaignReport.campaign_id).where(CampaignReport.status == ReportStatus.UPHELD)
                )
            )
            .order_by(Campaign.state_changed_at.desc())
            .limit(50)
        )
    )
    return render_template(
        "donate/staff_pick.html",
        search=search,
        listing=Page([(campaign, gifts) for campaign, gifts in rows], number_of_page, PICK_PER_PAGE, total),
        raised=donation_service.raised_by_campaign(campaign.id for campaign, _gifts in rows),
        upheld=upheld,
    )


@bp.route("/donations/<int:donation_id>/refund", methods=["POST"])
@roles(*REFUNDERS)
def refund(donation_id: int) -> Any:
    donation = db.session.get(Donation, donation_id)
    if donation is None:
        raise NotFound(_("We could not find that donation."))
    campaign = _campaign_for_staff(donation.campaign_id)
    # The page of the list the form was on (its address carries it), so the answer shows that page again.
    page = parse_page(request.args.get("page"))
    back = url_for(
        "staff.donations",
        campaign=campaign.id,
        page=page if page > 1 else None,
        _anchor=f"donation-{donation.id}",
    )
    form = RefundForm()
    if not form.validate_on_submit():
        # Shown beside the donation: the fields' own errors under them, an expired form above them.
        expired = (
            [_("This form has expired. Please reload the page and try again.")]
            if form.errors.get("csrf_token")
            else []
        )
        return _staff_page(campaign, 422, refused=donation.id, refund_form=form, refusal=expired)
    amount_fen = form.amount.data
    assert amount_fen is not None  # the field is required and above zero, and the form validated
    try:
        refund = donation_service.refund_donation(
            donation, int(amount_fen), current_user._get_current_object(), form.reason.data or ""
        )
    except DomainError as error:
        details = [m for messages in error.fields.values() for m in messages if m != error.message]
        return _staff_page(
            campaign, error.status, refused=donation.id, refund_form=form, refusal=[error.message, *details]
        )
    if refund.status in (RefundStatus.SUCCEEDED, RefundStatus.PENDING):
        flash(
            _(
                "Refunded %(amount)s of donation #%(id)d.",
                amount=format_yuan(refund.amount_fen),
                id=donation_id,
            ),
            "success",
        )
    else:
        flash(
            _(
                "A refund of %(amount)s for donation #%(id)d was asked for; it is recorded when the payment "
                "provider confirms it.",
                amount=format_yuan(refund.amount_fen),
                id=donation_id,
            ),
            "info",
        )
    return redirect(back)


@bp.route("/campaigns/<int:campaign_id>/refund-all", methods=["GET", "POST"])
@roles(*REFUNDERS)
def refund_all(campaign_id: int) -> Any:
    campaign = _campaign_for_staff(campaign_id)
    upheld = _upheld_reports(campaign.id)
    form = RefundAllForm()
    status = 200
    if request.method == "POST":
        if not upheld:
            flash(_("Every donor is refunded only after a report about the campaign was upheld."), "error")
            status = 409
        elif not form.validate_on_submit():
            status = 422
        else:
            try:
                result = donation_service.refund_all(
                    campaign, current_user._get_current_object(), form.reason.data or ""
                )
            except DomainError as error:
                flash(error.message, "error")
                return redirect(url_for("staff.refund_all", campaign_id=campaign.id))
            total = sum(r.amount_fen for r in result.requested)
            flash(
                _(
                    "Refunds asked for %(n)d donations, %(amount)s in all.",
                    n=len(result.requested),
                    amount=format_yuan(total),
                ),
                "success",
            )
            for donation_id, message in result.failed:
                flash(
                    _("Donation #%(id)d was not refunded: %(reason)s", id=donation_id, reason=message),
                    "error",
                )
            return redirect(url_for("staff.donations", campaign=campaign.id))
    donations = list(
        db.session.scalars(
            select(Donation).where(
                Donation.campaign_id == campaign.id, Donation.status == DonationStatus.SUCCEEDED
            )
        )
    )
    to_refund = [(d, donation_service.refundable_fen(d)) for d in donations]
    return (
        render_template(
            "donate/staff_refund_all.html",
            campaign=campaign,
            upheld=upheld,
            form=form,
            count=sum(1 for _d, amount in to_refund if amount > 0),
            total_fen=sum(amount for _d, amount in to_refund),
        ),
        status,
    )
