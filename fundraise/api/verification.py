"""API v1, verification: a campaign's latest report, records imports, and the benefit policies in force.

Registered on the API blueprint of fundraise/api/routes.py (imported by fundraise.api.init_app before the
blueprint is registered), and documented in the OpenAPI document like every other operation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.http import HTTP_STATUS_CODES

from fundraise.access import can_see_private, current_user_or_none, public, roles
from fundraise.api.common import UnsupportedMediaType
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.api.schemas import Fen, Problem, Yuan
from fundraise.errors import NotFound, ValidationFailed
from fundraise.models import ImportBatch, RecordKind, Role, VerificationReport
from fundraise.records_text import row_error_message
from fundraise.services import campaigns as campaign_service
from fundraise.services import records_import as imports
from fundraise.services import verification, verification_reports
from fundraise.services.policies import loaded_policies
from fundraise.states import PUBLIC_STATES
from fundraise.verification_pages.presenters import public_breakdown
from fundraise.verification_text import (
    assumption_message,
    cap_message,
    check_message,
    check_name,
    problem_message,
    reviewer_decision,
    step_message,
)
from verification.report import report_from_dict

IMPORTERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.ADMIN)


# --- schemas ---------------------------------------------------------------------------------------------


class CascadeSummary(Schema):
    """What each public tier pays of the total cost, and the gap left (all integer fen)."""

    total_cost_fen = Fen()
    total_cost_yuan = Yuan("total_cost_fen")
    basic_fen = Fen(metadata={"description": "Paid by basic medical insurance."})
    basic_yuan = Yuan("basic_fen")
    critical_illness_fen = Fen(metadata={"description": "Paid by critical-illness insurance."})
    critical_illness_yuan = Yuan("critical_illness_fen")
    assistance_fen = Fen(metadata={"description": "Paid by medical assistance (civil affairs)."})
    assistance_yuan = Yuan("assistance_fen")
    gap_fen = Fen(
        metadata={"description": "Left to pay: out-of-policy cost plus the uncovered in-policy part."}
    )
    gap_yuan = Yuan("gap_fen")
    capped_target_fen = Fen(
        metadata={"description": "The target after capping to the gap and the 500,000-yuan limit."}
    )
    capped_target_yuan = Yuan("capped_target_fen")
    cap_reason = fields.String(
        allow_none=True,
        validate=validate.OneOf(("gap", "platform_limit")),
        metadata={"description": "Why the target was lowered, or null when it was not."},
    )
    cap_message = fields.String(allow_none=True)


class CheckResultSchema(Schema):
    code = fields.String(metadata={"example": "civil_affairs"})
    name = fields.String(metadata={"example": "Civil-affairs assistance"})
    status = fields.String(
        validate=validate.OneOf(("pass", "fail", "needs_review", "not_checked")),
        metadata={"description": "not_checked: there was nothing on file to check against."},
    )
    reason_code = fields.String(metadata={"example": "assistance_first"})
    message = fields.String(metadata={"description": "The reason in plain words, in the caller's language."})
    params = fields.Dict(keys=fields.String(), metadata={"description": "The reason's parameters."})
    evidence = fields.Dict(keys=fields.String(), metadata={"description": "What the check looked at."})


class AssumptionSchema(Schema):
    code = fields.String(metadata={"example": "referral_filed"})
    message = fields.String(
        metadata={"description": "The assumption in plain words, in the caller's language."}
    )
    params = fields.Dict(keys=fields.String(), metadata={"description": "The assumption's parameters."})


class YearPartSchema(Schema):
    """One calendar year's part of a plan that runs into the next year."""

    year = fields.Integer()
    policy_version = fields.String()
    total_cost_fen = Fen()
    in_policy_cost_fen = Fen()
    basic_fen = Fen()
    critical_illness_fen = Fen()
    assistance_fen = Fen()
    gap_fen = Fen()


class ChecksMade(Schema):
    """Which checks (by code) were made against records, decided by a reviewer instead, or not made because
    nothing was on file: what the "verified" mark covers."""

    checked = fields.List(fields.String())
    reviewed = fields.List(fields.String())
    not_checked = fields.List(fields.String())


class VerificationPrivate(Schema):
    """The full report: for the applicant side, charity staff and officers of the patient's region."""

    trigger = fields.String(validate=validate.OneOf(("submission", "records_import", "manual")))
    problem = fields.String(
        allow_none=True,
        metadata={"description": "no_policy or records_unavailable when the checks could not run."},
    )
    problem_message = fields.String(allow_none=True)
    policy_region_code = fields.String()
    policy_year = fields.Integer()
    checks = fields.List(fields.Nested(CheckResultSchema))
    steps = fields.List(fields.String(), metadata={"description": "How each tier's amount was worked out."})
    records_snapshot = fields.Dict(
        keys=fields.String(), allow_none=True, metadata={"description": "The records the checks used."}
    )
    changed_outcome = fields.Boolean()
    previous_decision = fields.String(allow_none=True)


class VerificationSchema(Schema):
    """A campaign's latest verification report. `private` only for those who may see the case's details."""

    OPTIONAL_IN_RESPONSE: ClassVar[tuple[str, ...]] = ("private",)

    report_id = fields.Integer()
    campaign_id = fields.Integer()
    created_at = fields.DateTime()
    decision = fields.String(validate=validate.OneOf(("verified", "needs_review", "rejected")))
    reviewer_decision = fields.String(
        allow_none=True,
        validate=validate.OneOf(("approved", "rejected")),
        metadata={
            "description": "When the checks sent the case to a reviewer: what the reviewer decided (the campaign's"
            " state says so), or null while it waits or when no review was needed."
        },
    )
    policy_version = fields.String(allow_none=True)
    cascade = fields.Nested(CascadeSummary, allow_none=True)
    years = fields.List(
        fields.Nested(YearPartSchema),
        metadata={"description": "Each year's part when the plan runs into the next year; else empty."},
    )
    assumptions = fields.List(
        fields.Nested(AssumptionSchema),
        metadata={"description": "What the figures rest on: referral/filing, the year so far, a year split."},
    )
    checks_made = fields.Nested(ChecksMade, allow_none=True)
    private = fields.Nested(VerificationPrivate)


class RecordsImportUpload(Schema):
    """multipart/form-data: the kind of records, the format (else from the file name; a workbook is known by
    its content) and the file."""

    class Meta:
        unknown = EXCLUDE

    kind = fields.String(required=True, validate=validate.OneOf([kind.value for kind in RecordKind]))
    format = fields.String(validate=validate.OneOf(imports.FORMATS))
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class RowErrorSchema(Schema):
    row = fields.Integer(
        allow_none=True,
        metadata={
            "description": "CSV and JSON: 1 = the first record; .xlsx: the worksheet's row number; null: the file."
        },
    )
    column = fields.String(allow_none=True)
    value = fields.String(metadata={"description": "The offending value, ID numbers masked."})
    code = fields.String(
        allow_none=True,
        metadata={
            "description": "What is wrong, e.g. `date_invalid`, `id_invalid`, `not_one_of`, `encoding_unknown`;"
            " null for a fault recorded before faults had codes.",
            "example": "out_of_range",
        },
    )
    params = fields.Dict(
        keys=fields.String(),
        metadata={"description": "The code's parameters.", "example": {"low": 1, "high": 50}},
    )
    message = fields.String(metadata={"description": "The fault in words, in the caller's language."})


class RowErrorList(fields.List[Any]):
    """A batch's faults row by row: an empty list, never null, for a feed that had none. Each stored fault
    keeps its code and parameters; its message is worded here, in the caller's language."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Nested(RowErrorSchema), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[Any] | None:
        worded = [
            {
                **error,
                "code": error.get("code"),
                "params": error.get("params") or {},
                "message": row_error_message(error),
            }
            for error in value or []
        ]
        return super()._serialize(worded, attr, obj, **kwargs)


class ReadAs(fields.String):
    """How the file was read, as the answer to an import says (the batch does not keep it)."""

    def __init__(self) -> None:
        super().__init__(
            allow_none=True,
            validate=validate.OneOf(("utf-8", "gb18030", "xlsx")),
            metadata={
                "description": "How the file was read: `utf-8` or `gb18030` (GBK), the text encoding of a CSV or"
                " JSON file; `xlsx`, the first worksheet of a workbook; null when it could not be read."
            },
        )


class ImportRefused(Problem):
    """A refused feed (422): a problem document with extension members (RFC 9457 §3.2), the batch that
    records the refusal, its faults row by row and how the file was read. A form that is incomplete gets a
    plain problem document with `errors` instead."""

    OPTIONAL_IN_RESPONSE: ClassVar[tuple[str, ...]] = (
        "detail",
        "errors",
        "batch_id",
        "row_errors",
        "read_as",
    )

    batch_id = fields.Integer(metadata={"description": "The refused batch: GET /records/imports/{id}."})
    row_errors = RowErrorList()
    read_as = ReadAs()


class ImportBatchSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String(validate=validate.OneOf(("imported", "rejected")))
    source_name = fields.String()
    file_format = fields.String()
    file_sha256 = fields.String()
    rows_total = fields.Integer()
    rows_inserted = fields.Integer()
    rows_updated = fields.Integer()
    rows_unchanged = fields.Integer()
    rows_rejected = fields.Integer()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    errors = RowErrorList(attribute="error_report", metadata={"description": "Empty unless refused."})


class ImportResultSchema(ImportBatchSchema):
    persons_affected = fields.Integer(
        metadata={"description": "People whose records changed; their active campaigns are verified again."}
    )
    ignored_columns = fields.List(fields.String())
    read_as = ReadAs()


class PolicySchema(Schema):
    region_code = fields.String(metadata={"example": "341200"})
    region_name = fields.String(metadata={"example": "阜阳市"})
    year = fields.Integer(metadata={"example": 2026})
    version = fields.String(metadata={"example": "341200-2026.2-illustrative"})


class PolicyList(Schema):
    items = fields.List(fields.Nested(PolicySchema))


# --- the report of a campaign ----------------------------------------------------------------------------


def _cascade(report: VerificationReport, asked_fen: int) -> dict[str, Any] | None:
    if report.total_cost_fen is None:
        return None
    cap = None
    if report.cap_reason and report.capped_target_fen is not None:
        cap = cap_message(asked_fen, report.capped_target_fen, report.cap_reason)
    return {
        "total_cost_fen": report.total_cost_fen,
        "basic_fen": report.basic_fen,
        "critical_illness_fen": report.critical_illness_fen,
        "assistance_fen": report.assistance_fen,
        "gap_fen": report.gap_fen,
        "capped_target_fen": report.capped_target_fen,
        "cap_reason": report.cap_reason,
        "cap_message": cap,
    }


def _private(report: VerificationReport) -> dict[str, Any]:
    core = verification_reports.core_report(report)
    return {
        "trigger": report.trigger,
        "problem": report.problem,
        "problem_message": (
            problem_message(report.problem, report.policy_region_code, report.policy_year)
            if report.problem
            else None
        ),
        "policy_region_code": report.policy_region_code,
        "policy_year": report.policy_year,
        "checks": [
            {
                "code": result.code,
                "name": check_name(result.code),
                "status": result.status,
                "reason_code": result.reason_code,
                "message": check_message(result),
                "params": result.params,
                "evidence": result.evidence,
            }
            for result in (core.checks if core else ())
        ],
        "steps": [step_message(step) for step in core.cascade.steps] if core else [],
        "records_snapshot": report.records_snapshot,
        "changed_outcome": report.changed_outcome,
        "previous_decision": report.previous_decision,
    }


@bp.route("/campaigns/<int:campaign_id>/verification", methods=["GET"])
@public
@operation(
    "A campaign's latest verification report",
    tag="verification",
    description="The applicant side, charity staff and civil-affairs officers of the patient's region get the "
    "whole report in `private`: each check with its status, reason in plain words and evidence, how each tier's "
    "amount was worked out, and the records used. Anyone else gets the verified breakdown (the coverage "
    "cascade) of a public campaign only. 404 when the campaign has no report yet.",
    responses={200: ("The latest report.", VerificationSchema)},
)
def campaign_verification(campaign_id: int) -> Any:
    user = current_user_or_none()
    campaign = campaign_service.get_campaign(campaign_id, user)
    if can_see_private(user, campaign):
        report = verification_reports.latest_report(campaign.id)
        private = True
    else:
        view = public_breakdown(campaign) if campaign.state in PUBLIC_STATES else None
        report = view.report if view else None
        private = False
    if report is None:
        raise NotFound(_("This campaign has not been verified yet."))
    body: dict[str, Any] = {
        "report_id": report.id,
        "campaign_id": campaign.id,
        "created_at": report.created_at,
        "decision": report.decision,
        "reviewer_decision": reviewer_decision(report.decision, campaign.state),
        "policy_version": report.policy_version,
        "cascade": _cascade(report, verification.asked_target_fen(campaign)),
    }
    body.update(_grounds(report))
    if private:
        body["private"] = _private(report)
    return VerificationSchema().dump(body)


def _grounds(report: VerificationReport) -> dict[str, Any]:
    """What the figures rest on and which checks were made: the same for everyone who may see the figures."""
    core = report_from_dict({**report.report, "records_snapshot": {}}) if report.report else None
    if core is None:
        return {"years": [], "assumptions": [], "checks_made": None}
    return {
        "years": [dataclasses.asdict(part) for part in core.cascade.years],
        "assumptions": [
            {"code": item.code, "message": assumption_message(item), "params": item.params}
            for item in core.assumptions
        ],
        "checks_made": core.checks_made(),
    }


# --- records imports -------------------------------------------------------------------------------------


@bp.route("/records/imports", methods=["POST"])
@roles(*IMPORTERS)
@operation(
    "Import a records feed",
    tag="records",
    description="A CSV or JSON feed (UTF-8 or GB18030/GBK), or an Excel workbook (.xlsx, its first worksheet), of "
    "basic-insurance enrolments, critical-illness entitlements or civil-affairs statuses (formats in the "
    "README). Every row is checked first: any fault refuses the whole file (422, nothing written) with the "
    "faults row by row in `row_errors`, each with a `code`, its `params` and a `message` in the caller's "
    "language. Officers may import records of their jurisdiction only. The same file twice changes nothing. "
    "Active campaigns of the people whose records changed are verified again.",
    body=RecordsImportUpload,
    body_media="multipart/form-data",
    responses={201: ("The import; `Location` is its URL.", ImportResultSchema)},
    problems={
        413: "The file is too large.",
        422: (
            "The form is incomplete (`errors` by field), or the feed was refused: `batch_id` and `row_errors` "
            "(row, column, value, code, params, message) say why.",
            ImportRefused,
        ),
    },
)
def import_records() -> Any:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            _("Send the feed as multipart/form-data with fields kind, format and file.")
        )
    errors: dict[str, list[str]] = {}
    try:
        form = RecordsImportUpload(exclude=("file",)).load(request.form.to_dict())
    except ValidationError as error:
        errors.update(error.messages)  # type: ignore[arg-type]  # a schema's load() raises a dict of field messages
        form = {}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = [_("Attach the feed in the field named file.")]
    data = upload.read() if upload is not None and upload.filename else b""
    fmt = None
    if upload is not None and upload.filename:
        fmt = imports.feed_format(upload.filename, form.get("format"), data)
        if fmt is None:
            errors["format"] = [_("Say whether the file is csv, json or xlsx.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    assert upload is not None
    assert fmt is not None
    user = current_user_or_none()
    result = imports.import_feed(form["kind"], data, fmt, user, source_name=upload.filename or "upload")
    batch = imports.batch_for(result.batch_id, user)
    if not result.accepted:
        refused = jsonify(
            ImportRefused().dump(
                {
                    "type": "about:blank",
                    "title": HTTP_STATUS_CODES[422],
                    "status": 422,
                    "detail": _("The feed was refused; nothing was imported."),
                    "batch_id": batch.id,
                    "row_errors": batch.error_report,
                    "read_as": result.read_as,
                }
            )
        )
        refused.status_code = 422
        refused.mimetype = "application/problem+json"
        return refused
    body = ImportResultSchema(exclude=("persons_affected", "ignored_columns", "read_as")).dump(batch)
    body["persons_affected"] = len(result.affected_person_indexes)
    body["ignored_columns"] = list(result.ignored_columns)
    body["read_as"] = result.read_as
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_import_batch", batch_id=batch.id, _external=True)
    return response


@bp.route("/records/imports/<int:batch_id>", methods=["GET"])
@roles(*IMPORTERS)
@operation(
    "An import batch",
    tag="records",
    description="Its counts, and for a refused feed the faults row by row. Officers see their own imports.",
    responses={200: ("The batch.", ImportBatchSchema)},
    problems={404: "No such batch, or not one the caller may see."},
)
def get_import_batch(batch_id: int) -> Any:
    batch: ImportBatch = imports.batch_for(batch_id, current_user_or_none())
    return ImportBatchSchema().dump(batch)


# --- policies --------------------------------------------------------------------------------------------


@bp.route("/policies", methods=["GET"])
@public
@operation(
    "Benefit policies in force",
    tag="verification",
    description="The pooling regions and years whose basic insurance, critical-illness insurance and medical "
    "assistance rules are loaded; reports name the version they used.",
    responses={200: ("Policies, by region and year.", PolicyList)},
)
def policies() -> Any:
    loaded = loaded_policies()
    items = [
        {"region_code": p.region_code, "region_name": p.region_name, "year": p.year, "version": p.version}
        for _key, p in sorted(loaded.items())
    ]
    return PolicyList().dump({"items": items})
