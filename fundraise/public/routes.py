"""Public pages: the home page, browsing and searching campaigns, a campaign's page and reporting it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload

from fundraise import audit
from fundraise.access import (
    can_see_private,
    can_view,
    current_account,
    current_user_or_none,
    public,
    signed_in,
)
from fundraise.errors import NotFound, ValidationFailed
from fundraise.extensions import db, limiter
from fundraise.i18n import locale_name
from fundraise.models import Campaign, CampaignState, CampaignUpdate, Disbursement
from fundraise.pagination import parse_page
from fundraise.pii import mask_name
from fundraise.public import bill_preview as bill_images
from fundraise.public import content_version, sharing, use_of_funds
from fundraise.public.forms import BrowseForm, ReportForm, VouchForm
from fundraise.public.presenters import public_timeline, template_helpers
from fundraise.public.transparency import charts_for as transparency_charts
from fundraise.services import (
    access_log,
    campaign_reports,
    disbursement_funds,
    documents,
    platform_totals,
    search,
    vouching,
)
from fundraise.services.campaigns import get_campaign
from fundraise.services.donations import raised_by_campaign, raised_fen
from fundraise.states import PUBLIC_STATES, is_public
from fundraise.web import page_cache
from fundraise.web.forms import apply_field_errors

bp = Blueprint("public", __name__)
bp.context_processor(template_helpers)

S = CampaignState
# The reviewer's written reason is shown with these states: it explains the decision the visitor sees.
REASON_SHOWN_IN = (S.VERIFIED, S.REJECTED, S.SUSPENDED)


@bp.route("/")
@public
def home() -> Any:
    return _listing("home", _render_home)


@bp.route("/campaigns")
@public
def browse() -> Any:
    return _listing("browse", _render_browse)


@bp.route("/campaigns/<int:campaign_id>")
@public
def campaign(campaign_id: int) -> Any:
    if page_cache.applies():
        version = content_version.campaign_version(campaign_id)
        if version is not None and content_version.is_public(version):
            return page_cache.page(("campaign", campaign_id, version), lambda: _show_campaign(campaign_id))
    return _show_campaign(campaign_id)


def _show_campaign(campaign_id: int) -> Any:
    loaded = _load_for_page(campaign_id)  # held: the session keeps loaded objects only while referenced
    try:
        found = get_campaign(campaign_id, current_user_or_none())
    except NotFound:
        if (
            loaded is not None
            and loaded.unpublished_at is not None
            and is_public(loaded.state, loaded.ended_code)
        ):
            # The family withdrew consent to the page: say only that, nothing about the case.
            return render_template("public/no_longer_public.html"), 410
        raise
    del loaded
    form = ReportForm()
    # "Object to this payment": the report form with that disbursement chosen (one still in its notice).
    objected = use_of_funds.objectable(found.id, request.args.get("disbursement"))
    if objected is not None:
        form.disbursement.data = str(objected.id)
        form.offer_objection(True)
    page = _campaign_page(found, form, objected=objected)
    # Staff and the region's officers see the full finances here: logged after rendering (a commit first
    # would expire what the page preloaded).
    access_log.record_finances_view(found, current_user_or_none())
    return page


# A listing page rendered: its HTML and the raised amounts its cards show, by campaign id.
Rendered = tuple[str, dict[int, int]]


def _listing(name: str, render: Callable[[], Rendered]) -> Any:
    """A page of campaign cards, from the page cache when its campaigns have not changed since it was stored
    and the raised amounts on its cards are still those it shows (one grouped query)."""
    if not page_cache.applies():
        return render()[0]
    version = (name, content_version.listing_version())
    entry = page_cache.lookup(version)
    if entry is not None and content_version.raised_of(entry.data) == entry.data:
        return page_cache.respond(entry)
    body, raised = render()
    page_cache.store(version, body, raised)
    return body


def _render_home() -> Rendered:
    campaigns = search.featured_campaigns(3)
    raised = raised_by_campaign(c.id for c in campaigns)
    return render_template("public/home.html", campaigns=campaigns, raised=raised), raised


def _render_browse() -> Rendered:
    args = request.args
    filters = search.clean_filters(
        args.get("q"), args.get("province"), args.get("category"), args.get("state")
    )
    page = search.search_public(
        filters, parse_page(args.get("page")), current_app.config["CAMPAIGNS_PER_PAGE"]
    )
    form = BrowseForm(
        data={
            "q": filters.query,
            "province": filters.province or "",
            "category": filters.category or "",
            "state": filters.state or "",
        }
    )
    locale = locale_name()
    form.set_choices(
        search.province_options(locale), search.category_options(locale), list(search.PUBLIC_STATE_ORDER)
    )
    raised = raised_by_campaign(c.id for c in page.items)
    body = render_template("public/browse.html", form=form, page=page, filters=filters, raised=raised)
    return body, raised


@bp.route("/campaigns/<int:campaign_id>/report", methods=["POST"])
@public
@limiter.limit("5 per minute; 30 per hour")
def report(campaign_id: int) -> Any:
    user = current_user_or_none()
    loaded = _load_for_page(campaign_id)
    found = get_campaign(campaign_id, user)
    del loaded
    form = ReportForm()
    valid = form.validate_on_submit()
    objected = None
    if form.disbursement.data:
        objected = use_of_funds.objectable(found.id, form.disbursement.data)
        if objected is None:
            valid = False
            form.disbursement.errors = [
                _("That payment is no longer in its public notice; report the campaign instead.")
            ]
    if valid:
        try:
            campaign_reports.file_report(
                found,
                user,
                reason=form.reason.data or "",
                details=form.details.data or "",
                contact=form.contact.data or "",
                disbursement_id=objected.id if objected is not None else None,
            )
        except ValidationFailed as error:
            apply_field_errors(form, error, aliases={"disbursement_id": "disbursement"})
        else:
            flash(
                _(
                    "Thank you. Charity staff will look into your report; a credible report suspends the campaign."
                ),
                "success",
            )
            # Land on the top of the page, where the thank-you is, not on the form the browser came from.
            return redirect(url_for("public.campaign", campaign_id=found.id, _anchor="main"))
    return _campaign_page(found, form, status=422, objected=objected)


def _load_for_page(campaign_id: int) -> Campaign | None:
    """Put the campaign into the session with what its page shows (photos and documents, updates and their
    photos) in three queries, so the access check in get_campaign finds it there and the template never loads
    lazily. Hospital, region and disease names come from the reference cache."""
    return db.session.get(
        Campaign,
        campaign_id,
        options=[
            selectinload(Campaign.documents),
            selectinload(Campaign.updates).selectinload(CampaignUpdate.photos),
        ],
    )


def _campaign_page(
    found: Campaign,
    report_form: ReportForm,
    status: int = 200,
    vouch_form: VouchForm | None = None,
    objected: Disbursement | None = None,
) -> Any:
    viewer = current_user_or_none()
    link = share_url(found)
    money = use_of_funds.campaign_money(found.id)
    return (
        render_template(
            "public/campaign.html",
            campaign=found,
            private=can_see_private(viewer, found),
            timeline=public_timeline(found),
            show_reason=found.state in REASON_SHOWN_IN and bool(found.decision_reason),
            report_form=report_form,
            reasons=campaign_reports.REASONS,
            share_url=link,
            vouchers=vouching.standing(found),
            my_voucher=vouching.mine(found, viewer),
            may_vouch=vouching.may_vouch(found, viewer),
            vouch_form=vouch_form or VouchForm(formdata=None),
            share_qr=sharing.qr_svg(link) if found.state in PUBLIC_STATES else "",
            money=money,
            objected=use_of_funds.describe(objected, "notice") if objected is not None else None,
        ),
        status,
    )


@bp.route("/campaigns/<int:campaign_id>/vouch", methods=["POST"])
@signed_in
def vouch(campaign_id: int) -> Any:
    """Vouch for a campaign (亲友证实); refused input re-shows the page with the form as typed."""
    found = get_campaign(campaign_id, current_user_or_none())
    form = VouchForm()
    status = 422
    if form.validate_on_submit():
        try:
            vouching.vouch(found, current_account(), form.relationship.data or "", form.statement.data or "")
        except ValidationFailed as error:
            apply_field_errors(form, error)
        except vouching.TooManyVouchers as error:
            form.statement.errors = [error.message]
            status = 429
        else:
            flash(_("Thank you: your word is on the campaign's page."), "success")
            return redirect(url_for("public.campaign", campaign_id=found.id) + "#vouchers")
    return _campaign_page(found, ReportForm(formdata=None), status, vouch_form=form)


@bp.route("/campaigns/<int:campaign_id>/vouch/withdraw", methods=["POST"])
@signed_in
def withdraw_voucher(campaign_id: int) -> Any:
    found = get_campaign(campaign_id, current_user_or_none())
    # A form with no fields: its CSRF token is all there is to check.
    if FlaskForm().validate_on_submit() and vouching.withdraw(found, current_account()):
        flash(_("Your voucher is withdrawn."), "success")
    return redirect(url_for("public.campaign", campaign_id=found.id) + "#vouchers")


def share_url(campaign: Campaign) -> str:
    """The campaign's short link, the one the QR code and the poster carry."""
    return url_for("public.short_link", campaign_id=campaign.id, _external=True)


@bp.route("/c/<int:campaign_id>")
@public
def short_link(campaign_id: int) -> Any:
    """A short link to a campaign (what fits in a chat message and a QR code): on to its page."""
    found = get_campaign(campaign_id, current_user_or_none())
    return redirect(url_for("public.campaign", campaign_id=found.id), code=301)


@bp.route("/campaigns/<int:campaign_id>/poster.png")
@public
def poster(campaign_id: int) -> Any:
    """A share poster for a public campaign: title, masked patient, hospital, raised of target, the QR code."""
    found = get_campaign(campaign_id, current_user_or_none())
    if found.state not in PUBLIC_STATES:
        abort(404)
    locale = locale_name()
    image = sharing.poster_png(
        url=share_url(found),
        title=found.title,
        patient=mask_name(found.patient_name),
        hospital=found.hospital.name(locale) if found.hospital else "",
        raised_fen=raised_fen(found),
        target_fen=found.target_fen,
        lines={
            "raised": _("Raised"),
            "of": _("Target"),
            "scan": _("Scan to read the verified case and give"),
            "footer": _("Aidbridge verifies every case; money goes only to the hospital."),
            "no_font": _("A verified critical-illness case on Aidbridge"),
        },
    )
    response = Response(image, mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="aidbridge-{found.id}.png"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/disbursements/<int:disbursement_id>/bill-preview")
@public
def bill_preview(disbursement_id: int) -> Any:
    """The redacted bill of a disbursement the public may see: a blurred, downscaled PNG of an image bill
    (a PDF bill has none; the page names its size and fingerprint)."""
    disbursement = db.session.get(Disbursement, disbursement_id)
    if (
        disbursement is None
        or not disbursement_funds.visible_to_public(disbursement)
        or not can_view(current_user_or_none(), disbursement.campaign)
        or disbursement.bill.content_type not in use_of_funds.IMAGE_TYPES
    ):
        abort(404)
    path = documents.upload_dir() / disbursement.bill.stored_name
    if not path.is_file():
        abort(404)
    response = Response(bill_images.blurred_png(path.read_bytes()), mimetype="image/png")
    # A bill never changes once attached (a new bill is a new request).
    response.headers["Cache-Control"] = "public, max-age=2592000"
    return response


@bp.route("/transparency")
@public
def transparency() -> Any:
    """Where the platform's money went (totals and charts drawn from the ledger), and how anyone can check
    the audit log: the signing key, the newest checkpoints, and what to run."""
    backlog, oldest = audit.unsealed_backlog()
    totals = platform_totals.platform_totals(locale_name())
    return render_template(
        "public/transparency.html",
        totals=totals,
        charts=transparency_charts(totals),
        key=audit.public_key(),
        checkpoints=audit.latest_checkpoints(10),
        backlog=backlog,
        oldest_unsealed=oldest,
    )
