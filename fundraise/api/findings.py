"""API v1 for officers' spot checks: reproducible random samples of a jurisdiction's recipients and findings
about recipients (open → resolved). Views on the API blueprint (fundraise.api.routes.bp), each described for
the OpenAPI document; the rules stay in fundraise.services.sampling and .findings.

Officers draw samples and record and resolve findings in their jurisdiction; charity staff and admins read
every sample and finding. A sample, finding or recipient of another jurisdiction is 404. Files are attached to
findings on the pages (multipart), not here.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for
from marshmallow import RAISE, Schema, fields, validate

from fundraise.access import current_account, roles
from fundraise.api.common import load_json, load_query, page_links
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.api.schemas import MAX_PER_PAGE, StrictInteger
from fundraise.models import Finding, FindingStatus, RegisterSample, Role
from fundraise.pagination import MAX_PAGE
from fundraise.request_limits import MAX_ID
from fundraise.services import findings, sampling

TAG = "register"
OFFICER = Role.CIVIL_AFFAIRS_OFFICER
READERS = (Role.CIVIL_AFFAIRS_OFFICER, Role.CHARITY_STAFF, Role.ADMIN)
STATUSES = [status.value for status in FindingStatus]
SAMPLE_404 = "No such sample, or one drawn outside the caller's jurisdiction."
FINDING_404 = "No such finding, or one about a recipient outside the caller's jurisdiction."


# --- schemas ---------------------------------------------------------------------------------------------


class SampleCreate(Schema):
    """Either `size` or `share_percent`; `seed` is optional (a random one is chosen and recorded)."""

    class Meta:
        unknown = RAISE

    size = StrictInteger(
        validate=validate.Range(min=1, max=sampling.MAX_SAMPLE_SIZE),
        metadata={"description": "How many recipients to draw (at most as many as there are)."},
    )
    share_percent = StrictInteger(
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Or: the share of the recipients to draw, in per cent (rounded up)."},
    )
    seed = StrictInteger(
        validate=validate.Range(min=0, max=sampling.MAX_SEED),
        metadata={"description": "The seed; the same seed over the same recipients draws the same sample."},
    )


class SampleSchema(Schema):
    id = fields.Integer()
    region_prefix = fields.String(metadata={"description": "The jurisdiction's region-code prefix."})
    size = fields.Integer(allow_none=True)
    share_percent = fields.Integer(allow_none=True)
    seed = fields.Integer()
    population = fields.Integer(metadata={"description": "How many recipients there were to draw from."})
    campaign_ids = fields.List(fields.Integer(), metadata={"description": "The recipients drawn, in order."})
    drawn_by_id = fields.Integer()
    created_at = fields.DateTime()


class FindingCreate(Schema):
    class Meta:
        unknown = RAISE

    campaign_id = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_ID))
    title = fields.String(required=True, validate=validate.Length(min=1, max=findings.TITLE_MAX))
    note = fields.String(load_default="", validate=validate.Length(max=findings.NOTE_MAX))
    sample_id = StrictInteger(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The sample the recipient was drawn in, if any."},
    )


class FindingResolve(Schema):
    class Meta:
        unknown = RAISE

    resolution = fields.String(
        required=True, validate=validate.Length(min=findings.RESOLUTION_MIN, max=findings.RESOLUTION_MAX)
    )


class FindingSchema(Schema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    sample_id = fields.Integer(allow_none=True)
    title = fields.String()
    note = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    resolution = fields.String()
    recorded_by_id = fields.Integer()
    created_at = fields.DateTime()
    resolved_by_id = fields.Integer(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    attachment_ids = fields.Function(
        lambda finding: [document.id for document in finding.attachments],
        metadata={"type": "array", "items": {"type": "integer"}, "description": "Ids of attached files."},
    )


class FindingQuery(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(validate=validate.OneOf(STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class FindingPage(Schema):
    items = fields.List(fields.Nested(FindingSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    next = fields.String(allow_none=True)
    prev = fields.String(allow_none=True)


def _sample_body(sample: RegisterSample) -> dict[str, Any]:
    return dict(SampleSchema().dump(sample))


def _finding_body(finding: Finding) -> dict[str, Any]:
    return dict(FindingSchema().dump(finding))


# --- samples ---------------------------------------------------------------------------------------------


@bp.route("/register/samples", methods=["POST"])
@roles(OFFICER)
@operation(
    "Draw a sample",
    tag=TAG,
    description="A reproducible random sample of the recipients in the officer's jurisdiction: "
    "`random.Random(seed).sample(sorted(campaign_ids), k)`, so the same seed over the same recipients draws "
    "the same sample. Give `size` or `share_percent` (not both: 422 on `size`). Audit-logged.",
    body=SampleCreate,
    responses={201: ("The sample; `Location` is its URL.", SampleSchema)},
)
def api_draw_sample() -> Any:
    data = load_json(SampleCreate())
    sample = sampling.draw_sample(
        current_account(),
        size=data.get("size"),
        share_percent=data.get("share_percent"),
        seed=data.get("seed"),
    )
    response = jsonify(_sample_body(sample))
    response.status_code = 201
    response.headers["Location"] = url_for("api.api_get_sample", sample_id=sample.id, _external=True)
    return response


@bp.route("/register/samples/<int:sample_id>", methods=["GET"])
@roles(*READERS)
@operation(
    "A sample",
    tag=TAG,
    description="The sample with its seed, population and the recipients drawn.",
    responses={200: ("The sample.", SampleSchema)},
    problems={404: SAMPLE_404},
)
def api_get_sample(sample_id: int) -> Any:
    return jsonify(_sample_body(sampling.get_sample(sample_id, current_account())))


# --- findings --------------------------------------------------------------------------------------------


@bp.route("/register/findings", methods=["GET"])
@roles(*READERS)
@operation(
    "Findings",
    tag=TAG,
    description="Findings about the recipients of the officer's jurisdiction (every finding for staff and "
    "admins), newest first, optionally only `open` or `resolved` ones.",
    query=FindingQuery,
    responses={200: ("One page of findings.", FindingPage)},
)
def api_list_findings() -> Any:
    query = load_query(FindingQuery())
    page = findings.list_findings(
        current_account(), status=query.get("status"), page=query["page"], per_page=query["per_page"]
    )
    filters = {"status": query["status"]} if query.get("status") else {}
    return jsonify(
        {
            "items": [_finding_body(finding) for finding in page.items],
            **page_links("api.api_list_findings", page.number, page.per_page, page.total, **filters),
        }
    )


@bp.route("/register/findings", methods=["POST"])
@roles(OFFICER)
@operation(
    "Record a finding",
    tag=TAG,
    description="An open finding about a recipient in the officer's jurisdiction (a campaign elsewhere is "
    "404), optionally naming the sample it was drawn in (422 on `sample_id` if it was not). Audit-logged.",
    body=FindingCreate,
    responses={201: ("The finding; `Location` is its URL.", FindingSchema)},
    problems={404: "No such recipient in the caller's jurisdiction."},
)
def api_record_finding() -> Any:
    data = load_json(FindingCreate())
    finding = findings.record_finding(
        data["campaign_id"],
        current_account(),
        findings.FindingInput(title=data["title"], note=data["note"], sample_id=data.get("sample_id")),
    )
    response = jsonify(_finding_body(finding))
    response.status_code = 201
    response.headers["Location"] = url_for("api.api_get_finding", finding_id=finding.id, _external=True)
    return response


@bp.route("/register/findings/<int:finding_id>", methods=["GET"])
@roles(*READERS)
@operation(
    "A finding",
    tag=TAG,
    description="The finding, its resolution and the ids of its files (served at /documents/<id>).",
    responses={200: ("The finding.", FindingSchema)},
    problems={404: FINDING_404},
)
def api_get_finding(finding_id: int) -> Any:
    return jsonify(_finding_body(findings.get_finding(finding_id, current_account())))


@bp.route("/register/findings/<int:finding_id>/resolve", methods=["POST"])
@roles(OFFICER)
@operation(
    "Resolve a finding",
    tag=TAG,
    description="Close an open finding with a note saying how it was resolved; a resolved one is 409. "
    "Audit-logged.",
    body=FindingResolve,
    responses={200: ("The finding, resolved.", FindingSchema)},
    problems={404: FINDING_404, 409: "The finding is already resolved."},
)
def api_resolve_finding(finding_id: int) -> Any:
    data = load_json(FindingResolve())
    return jsonify(_finding_body(findings.resolve_finding(finding_id, current_account(), data["resolution"])))
