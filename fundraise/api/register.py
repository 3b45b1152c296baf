"""API v1 for the officers' register: the recipients of the caller's jurisdiction (every region for charity
staff and admins) with the aid from each source and the anomaly flags, paged, and the same filter as a streamed
CSV (the page's export, audited the same way).

The rules and the queries are fundraise.services.register's and .anomalies'; the words are
fundraise.register_text's. Filters are those of the page: a filter never widens the caller's jurisdiction.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from marshmallow import EXCLUDE, Schema, fields, validate

from fundraise.access import current_account, roles
from fundraise.api.common import load_query, page_links
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.api.schemas import MAX_PER_PAGE
from fundraise.downloads import csv_attachment
from fundraise.i18n import locale_name
from fundraise.models import Role
from fundraise.money import format_yuan
from fundraise.pagination import MAX_PAGE
from fundraise.pii import mask_name
from fundraise.register_text import class_label, export_lines, flag_label, flag_text
from fundraise.services import register
from fundraise.services.anomalies import CODES
from fundraise.services.register import FILTER_STATES, SORTS, RegisterRow
from fundraise.verification_text import ASSISTANCE_CLASSES

READERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.CHARITY_STAFF, Role.ADMIN)
TAG = "register"
AMOUNTS = (
    "total_cost_fen",
    "basic_fen",
    "critical_illness_fen",
    "assistance_fen",
    "committed_fen",
    "raised_fen",
    "total_aid_fen",
    "paid_fen",
)


class RegisterQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    state = fields.String(validate=validate.OneOf([str(state) for state in FILTER_STATES]))
    assistance_class = fields.String(
        data_key="class",
        validate=validate.OneOf(list(ASSISTANCE_CLASSES)),
        metadata={"description": "The civil-affairs class on record now."},
    )
    hospital = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    flagged = fields.Boolean(load_default=False, metadata={"description": "Only recipients with an anomaly."})
    flag = fields.String(validate=validate.OneOf(list(CODES)))
    sort = fields.String(load_default="newest", validate=validate.OneOf(list(SORTS)))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(
        load_default=register.PER_PAGE, validate=validate.Range(min=1, max=MAX_PER_PAGE)
    )


class RegisterExportQuery(RegisterQuery):
    """The register's filters; an export has every row of them, in campaign order (no sort, no pages)."""

    class Meta:
        unknown = EXCLUDE
        exclude = ("sort", "page", "per_page")


class RegisterFlagSchema(Schema):
    code = fields.String(validate=validate.OneOf(list(CODES)))
    label = fields.String(metadata={"description": "The anomaly's name, in the caller's language."})
    reason = fields.String(metadata={"description": "What does not add up, in words, with its figures."})
    params = fields.Dict(keys=fields.String(), metadata={"description": "The figures the reason uses."})
    evidence = fields.String(metadata={"description": "The path of the page that shows the evidence."})


class RegisterRowSchema(Schema):
    campaign_id = fields.Integer()
    state = fields.String()
    patient = fields.String(metadata={"description": "The patient's name, masked."})
    patient_id_masked = fields.String()
    patient_region_code = fields.String()
    assistance_class = fields.String(allow_none=True)
    assistance_class_label = fields.String()
    hospital_id = fields.Integer(allow_none=True)
    hospital = fields.String(allow_none=True)
    total_cost_fen = fields.Integer()
    total_cost_yuan = fields.String()
    basic_fen = fields.Integer()
    basic_yuan = fields.String()
    critical_illness_fen = fields.Integer()
    critical_illness_yuan = fields.String()
    assistance_fen = fields.Integer()
    assistance_yuan = fields.String()
    committed_fen = fields.Integer(metadata={"description": "Approved relief commitments."})
    committed_yuan = fields.String()
    raised_fen = fields.Integer(metadata={"description": "Donations, net of refunds and disputes."})
    raised_yuan = fields.String()
    total_aid_fen = fields.Integer()
    total_aid_yuan = fields.String()
    paid_fen = fields.Integer(metadata={"description": "Disbursements paid to the hospital."})
    paid_yuan = fields.String()
    flags = fields.List(fields.Nested(RegisterFlagSchema))


class RegisterTotalsSchema(Schema):
    recipients = fields.Integer()
    total_cost_fen = fields.Integer()
    basic_fen = fields.Integer()
    critical_illness_fen = fields.Integer()
    assistance_fen = fields.Integer()
    committed_fen = fields.Integer()
    raised_fen = fields.Integer()
    total_aid_fen = fields.Integer()
    paid_fen = fields.Integer()


class RegisterPage(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    next = fields.String(allow_none=True, metadata={"description": "The next page, or null on the last."})
    prev = fields.String(
        allow_none=True, metadata={"description": "The previous page, or null on the first."}
    )
    totals = fields.Nested(RegisterTotalsSchema, metadata={"description": "Sums over the whole filter."})
    items = fields.List(fields.Nested(RegisterRowSchema))


def _row(row: RegisterRow, locale_hospital: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaign_id": row.campaign_id,
        "state": row.state,
        "patient": mask_name(row.patient_name),
        "patient_id_masked": row.patient_id_masked,
        "patient_region_code": row.patient_region_code,
        "assistance_class": row.assistance_class,
        "assistance_class_label": class_label(row.assistance_class),
        "hospital_id": row.hospital.id if row.hospital else None,
        "hospital": locale_hospital(row.hospital) if row.hospital else None,
        "flags": [
            {
                "code": flag.code,
                "label": flag_label(flag.code),
                "reason": flag_text(flag.code, flag.params),
                "params": flag.params,
                "evidence": flag.evidence,
            }
            for flag in row.flags
        ],
    }
    for name in AMOUNTS:
        fen = getattr(row, name)
        body[name] = fen
        body[name.removesuffix("_fen") + "_yuan"] = format_yuan(fen)
    return body


def _filters(query: dict[str, Any]) -> register.RegisterFilters:
    return register.RegisterFilters(
        state=query.get("state"),
        assistance_class=query.get("assistance_class"),
        hospital_id=query.get("hospital"),
        flagged_only=bool(query.get("flagged")),
        flag=query.get("flag"),
    )


@bp.route("/register", methods=["GET"])
@roles(*READERS)
@operation(
    "The register of recipients",
    tag=TAG,
    description="Every recipient of the caller's jurisdiction (officers; every region for charity staff and "
    "admins), one campaign past submission each, with the aid from each source and the anomaly flags, each "
    "with its reason in words and the path of its evidence. Totals are over the whole filter.",
    query=RegisterQuery,
    responses={200: ("One page of the register.", RegisterPage)},
)
def register_list() -> Any:
    query = load_query(RegisterQuery())
    reader = current_account()
    prefix = register.prefix_for(reader)
    filters = _filters(query)
    listing = register.register_rows(
        prefix,
        filters,
        query["sort"],
        query["page"],
        query["per_page"],
        staff_links=reader.role != Role.CIVIL_AFFAIRS_OFFICER,
    )
    totals = register.register_totals(prefix, filters)
    locale = locale_name()
    arguments = register.query_args(filters, query["sort"])
    body = page_links("api.register_list", listing.number, listing.per_page, listing.total, **arguments)
    body["totals"] = {
        "recipients": totals.recipients,
        **{name: getattr(totals, name) for name in AMOUNTS},
    }
    body["items"] = [_row(row, lambda hospital: hospital.name(locale)) for row in listing.items]
    return jsonify(body)


@bp.route("/register/export.csv", methods=["GET"])
@roles(*READERS)
@operation(
    "The register as CSV",
    tag=TAG,
    description="Every row of the filter (the caller's jurisdiction for officers), streamed as CSV in UTF-8 "
    "with a byte-order mark, in the caller's language, every cell escaped against spreadsheet formulas. The "
    "export is recorded in the audit log with its filter.",
    query=RegisterExportQuery,
    responses={200: ("The rows as CSV, one line per recipient after a header line.", {"type": "string"})},
    response_media="text/csv",
)
def register_export() -> Any:
    query = load_query(RegisterExportQuery())
    reader = current_account()
    prefix = register.prefix_for(reader)
    filters = _filters(query)
    register.record_export(reader, prefix, filters)
    rows = register.stream_rows(prefix, filters, staff_links=reader.role != Role.CIVIL_AFFAIRS_OFFICER)
    return csv_attachment(export_lines(rows), "aidbridge-register")
