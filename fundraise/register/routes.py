"""The register's pages: the list of a jurisdiction's recipients, one recipient, and the CSV export.

Officers read their jurisdiction (region-code prefix) only; charity staff and admins read every region. A
recipient outside the reader's register is not found, like any campaign a reader may not see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request

from fundraise.access import current_account, roles
from fundraise.downloads import csv_attachment
from fundraise.i18n import locale_name
from fundraise.models import Role
from fundraise.pagination import parse_page
from fundraise.register_text import (
    SORT_LABELS,
    class_label,
    export_lines,
    finding_status_label,
    flag_label,
    template_globals,
)
from fundraise.services import access_log, findings, register
from fundraise.services.anomalies import CODES
from fundraise.states import state_label
from fundraise.verification_text import ASSISTANCE_CLASSES

READERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.CHARITY_STAFF, Role.ADMIN)
bp = Blueprint("register", __name__, url_prefix="/staff")
bp.context_processor(template_globals)
# Looks at private data listed on the recipient page; the audit viewer's page has them all.
RECENT_VIEWS = 20


def _no_store(response: Response) -> Response:
    # Patients' (masked) names and their aid: keep the pages out of shared caches.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/register")
@roles(*READERS)
def index() -> Any:
    reader = current_account()
    prefix = register.prefix_for(reader)
    filters = register.filters_from(request.args)
    sort = request.args.get("sort") or "newest"
    sort = sort if sort in register.SORTS else "newest"
    page = register.register_rows(
        prefix,
        filters,
        sort,
        parse_page(request.args.get("page")),
        register.PER_PAGE,
        staff_links=reader.role != Role.CIVIL_AFFAIRS_OFFICER,
    )
    return _no_store(
        Response(
            render_template(
                "register/index.html",
                page=page,
                totals=register.register_totals(prefix, filters),
                filters=filters,
                sort=sort,
                sorts=SORT_LABELS,
                states=[(state, state_label(state)) for state in register.FILTER_STATES],
                classes=[(code, class_label(code)) for code in ASSISTANCE_CLASSES],
                hospitals=register.hospitals_in(prefix),
                flag_codes=[(code, flag_label(code)) for code in CODES],
                export_args=register.query_args(filters, sort),
                is_officer=reader.role == Role.CIVIL_AFFAIRS_OFFICER,
            )
        )
    )


@bp.route("/register/<int:campaign_id>")
@roles(*READERS)
def recipient(campaign_id: int) -> Any:
    reader = current_account()
    row = register.register_row(
        register.prefix_for(reader), campaign_id, staff_links=reader.role != Role.CIVIL_AFFAIRS_OFFICER
    )
    if row is None:
        abort(404)
    views = access_log.views_of(campaign_id, limit=RECENT_VIEWS + 1, locale=locale_name())
    recorded = findings.list_findings(reader, campaign_id=campaign_id, per_page=RECENT_VIEWS).items
    return _no_store(
        Response(
            render_template(
                "register/recipient.html",
                row=row,
                views=views[:RECENT_VIEWS],
                more_views=len(views) > RECENT_VIEWS,
                views_page="audit_viewer.views" in current_app.view_functions,
                is_officer=reader.role == Role.CIVIL_AFFAIRS_OFFICER,
                findings=recorded,
                finding_status_label=finding_status_label,
            )
        )
    )


def csv_response(rows: Iterator[register.RegisterRow]) -> Response:
    """A streamed CSV of register rows, UTF-8 with a byte-order mark so spreadsheets read it right."""

    return csv_attachment(export_lines(rows), "aidbridge-register")


@bp.route("/register/export.csv")
@roles(*READERS)
def export_csv() -> Any:
    reader = current_account()
    prefix = register.prefix_for(reader)
    filters = register.filters_from(request.args)
    register.record_export(reader, prefix, filters)
    return csv_response(
        register.stream_rows(prefix, filters, staff_links=reader.role != Role.CIVIL_AFFAIRS_OFFICER)
    )


__all__ = ["csv_response"]
