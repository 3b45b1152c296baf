"""`/staff/audit`: the audit log filtered by object, actor, action and date, newest first, with the chain's
health at the top; `/staff/recipients/<id>/views`: who looked at a recipient's private data. Charity staff and
admins read the whole log; officers read what concerns campaigns of their jurisdiction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _

from fundraise.access import current_account, in_jurisdiction, is_staff, roles
from fundraise.audit_viewer.forms import AuditFilterForm
from fundraise.audit_viewer.labels import template_globals
from fundraise.errors import NotFound
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import Campaign, Role
from fundraise.request_limits import MAX_ID
from fundraise.services import access_log, audit_chain, audit_events

READERS = (Role.CHARITY_STAFF, Role.ADMIN, Role.CIVIL_AFFAIRS_OFFICER)
VIEWS_PAGE_SIZE = 100
FILTERS = ("object_type", "object_id", "actor_role", "actor_id", "action", "since", "until")


bp = Blueprint("audit_viewer", __name__, url_prefix="/staff")


@bp.record_once
def _template_globals(state: BlueprintSetupState) -> None:
    # App-wide, so other pages (the register's recipient page) can include templates/audit_viewer/_views.html.
    state.app.jinja_env.globals.update(template_globals())


def _before() -> int | None:
    """The keyset cursor: show events with smaller ids than this (anything else: from the newest)."""
    text = request.args.get("before", "")
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def _no_store(body: str) -> Any:
    response = current_app.make_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/audit")
@roles(*READERS)
def index() -> Any:
    reader = current_account()
    form = AuditFilterForm(request.args)
    filtered = any(request.args.get(name) for name in FILTERS)
    valid = form.validate() if filtered else True
    page = (
        audit_events.events(reader, form.event_filter(), before=_before(), locale=locale_name())
        if valid
        else audit_events.EventPage()
    )
    return _no_store(
        render_template(
            "audit_viewer/index.html",
            form=form,
            page=page,
            filtered=filtered,
            before=_before(),
            chain=audit_chain.recent_status(),
            officer=reader.role == Role.CIVIL_AFFAIRS_OFFICER,
        )
    )


@bp.route("/recipients/<int:campaign_id>/views")
@roles(*READERS)
def views(campaign_id: int) -> Any:
    reader = current_account()
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not (is_staff(reader) or in_jurisdiction(reader, campaign)):
        raise NotFound(_("We could not find that campaign."))
    found = access_log.views_of(
        campaign.id, before=_before(), limit=VIEWS_PAGE_SIZE + 1, locale=locale_name()
    )
    shown = found[:VIEWS_PAGE_SIZE]
    older = shown[-1].id if len(found) > VIEWS_PAGE_SIZE else None
    return _no_store(
        render_template(
            "audit_viewer/views.html", campaign=campaign, views=shown, older=older, before=_before()
        )
    )
