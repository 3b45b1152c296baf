"""API v1 views: each translates HTTP into a service call and the answer into JSON.

Business rules stay in the services (`fundraise.services.filing`, `.transitions`, `.documents`); domain
errors become problem documents. Callers authenticate with a bearer token or the browser session; see
`_csrf_for_sessions`.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from flask import Blueprint, Response, current_app, jsonify, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.http import HTTP_STATUS_CODES

from fundraise.access import (
    current_account,
    current_user_or_none,
    is_applicant_side,
    is_staff,
    public,
    roles,
    signed_in,
)
from fundraise.api import schemas
from fundraise.api.common import (
    UnsupportedMediaType,
    load_json,
    load_query,
    page_links,
)
from fundraise.api.openapi import build_document, operation
from fundraise.errors import DomainError, NotFound, ValidationFailed, problem
from fundraise.extensions import csrf, db
from fundraise.models import Campaign, DiseaseRange, Hospital, Region, Role, User
from fundraise.services import campaigns as campaign_service
from fundraise.services import documents as document_service
from fundraise.services import filing, transitions
from fundraise.states import PUBLIC_STATES

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Transitions a caller may ask for; those only the system makes (the verification job) are not offered.
CALLER_TRANSITIONS = sorted(
    name for name in transitions.TRANSITIONS if name not in ("begin_verification", "flag_for_review")
)
APPLICANT_ROLES = (Role.FAMILY, Role.SOCIAL_WORKER)


# --- request plumbing ------------------------------------------------------------------------------------


def init_blueprint(app: Any) -> None:
    """Called once per app by fundraise.api.init_app: CSRF is applied by `_csrf_for_sessions` instead."""
    csrf.exempt(bp)


def _authenticated_by_session() -> bool:
    """Whether the caller's identity came from the session cookie (or its remember-me cookie), not a token.

    Loading the user first matters: Flask-Login tries the session, then the remember-me cookie (which it
    copies into the session), then the bearer token, which it never writes to the session.
    """
    _ = current_user.is_authenticated
    return "_user_id" in session


@bp.before_request
def _csrf_for_sessions() -> None:
    """A browser's session cookie is sent by the browser on any site's request, so a mutating request that
    relies on it must prove it came from our pages (CSRF token). A bearer token is never sent by the browser
    on its own, so token callers need no CSRF token. A request carrying both is judged by the session, since
    the session is what identifies it."""
    if (
        current_app.config.get("WTF_CSRF_ENABLED", True)
        and request.method in current_app.config["WTF_CSRF_METHODS"]
        and _authenticated_by_session()
    ):
        csrf.protect()


@bp.errorhandler(DomainError)
def _domain_problem(error: DomainError) -> Response:
    """The API's problem documents keep the title to the status phrase (as for HTTP errors) and put the
    message in `detail`."""
    return problem(error.status, HTTP_STATUS_CODES[error.status], error.message, error.fields)


@bp.errorhandler(CSRFError)
def _csrf_problem(error: CSRFError) -> Response:
    return problem(
        400,
        HTTP_STATUS_CODES[400],
        _("Send the page's CSRF token in the X-CSRFToken header, or authenticate with a bearer token.")
        + " "
        + str(error.description),
    )


def _campaign_to_change(campaign_id: int) -> Campaign:
    """A campaign the caller is about to change.

    Callers who are neither on its applicant side nor staff get 404, as they do for a draft they cannot see:
    there is nothing here for them to change, and a public campaign's page is GET /campaigns/{id}.
    """
    user = current_account()
    campaign = campaign_service.get_campaign(campaign_id, user)
    if not (is_applicant_side(user, campaign) or is_staff(user)):
        raise NotFound(_("We could not find that campaign."))
    return campaign


def _detail_response(campaign: Campaign, status: int = 200) -> Response:
    response = jsonify(schemas.campaign_detail(campaign, current_user_or_none()))
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.get_campaign", campaign_id=campaign.id, _external=True)
    return response


# --- campaigns -------------------------------------------------------------------------------------------


@bp.route("/campaigns", methods=["GET"])
@public
@operation(
    "List public campaigns",
    tag="campaigns",
    description="Only campaigns in public states (verified, fundraising, closed, suspended) are listed.",
    query=schemas.CampaignQuery,
    responses={200: ("One page of campaigns, newest change first.", schemas.CampaignPage)},
)
def list_campaigns() -> Any:
    filters = load_query(schemas.CampaignQuery())
    page, per_page = filters.pop("page"), filters.pop("per_page")

    states = [filters["state"]] if filters.get("state") else sorted(PUBLIC_STATES)
    query = select(Campaign).where(Campaign.state.in_(states), Campaign.unpublished_at.is_(None))
    if filters.get("region"):
        query = query.where(Campaign.patient_region_code.startswith(_region_prefix(filters["region"])))
    if filters.get("category"):
        query = query.where(
            Campaign.disease_range_id.in_(
                select(DiseaseRange.id).where(DiseaseRange.category == filters["category"])
            )
        )
    words = " ".join(filters.get("q", "").split())
    if words:
        query = query.where(
            or_(
                Campaign.title.icontains(words, autoescape=True),
                Campaign.story.icontains(words, autoescape=True),
                Campaign.diagnosis_text.icontains(words, autoescape=True),
            )
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.options(
            selectinload(Campaign.documents),
            selectinload(Campaign.hospital),
            selectinload(Campaign.patient_region),
            selectinload(Campaign.disease),
        )
        .order_by(Campaign.state_changed_at.desc(), Campaign.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()

    return schemas.CampaignPage().dump(
        {"items": items, **page_links("api.list_campaigns", page, per_page, total, **filters)}
    )


def _region_prefix(code: str) -> str:
    """A full code names its region and everything under it: 340000 is all of Anhui, like 34."""
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


@bp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@public
@operation(
    "Show a campaign",
    tag="campaigns",
    description="Public campaigns to anyone; drafts and cases under review only to their applicant side, "
    "charity staff and civil-affairs officers of the patient's region, who also get the `private` part.",
    responses={200: ("The campaign.", schemas.CampaignDetail)},
)
def get_campaign(campaign_id: int) -> Any:
    return _detail_response(campaign_service.get_campaign(campaign_id, current_user_or_none()))


@bp.route("/campaigns", methods=["POST"])
@roles(*APPLICANT_ROLES)
@operation(
    "Start a campaign (draft)",
    tag="campaigns",
    description="Every field is optional while a draft. A social worker files for a family: `family_email` "
    "names the family's account, and the hospital defaults to the social worker's own.",
    body=schemas.CampaignCreate,
    responses={201: ("The new draft; `Location` is its URL.", schemas.CampaignDetail)},
)
def create_campaign() -> Any:
    data = load_json(schemas.CampaignCreate())
    user = current_account()
    family_email = data.pop("family_email", None)
    if user.role == Role.SOCIAL_WORKER:
        if not family_email:
            raise ValidationFailed(
                _("Please correct the marked fields."),
                fields={"family_email": [_("Give the e-mail address of the family's account.")]},
            )
        family = db.session.scalar(
            select(User).where(
                func.lower(User.email) == family_email.strip().lower(), User.role == Role.FAMILY
            )
        )
        if family is None:
            raise ValidationFailed(
                _("Please correct the marked fields."),
                fields={"family_email": [_("There is no family account with this e-mail address.")]},
            )
        if "hospital_code" not in data and user.hospital is not None:
            data["hospital_code"] = user.hospital.code
        campaign = filing.create_draft(family, data, filed_by=user)
    else:
        if family_email:
            raise ValidationFailed(
                _("Please correct the marked fields."),
                fields={"family_email": [_("Only a social worker files for another family.")]},
            )
        campaign = filing.create_draft(user, data)
    return _detail_response(campaign, 201)


@bp.route("/campaigns/<int:campaign_id>", methods=["PATCH"])
@roles(*APPLICANT_ROLES)
@operation(
    "Change a draft",
    tag="campaigns",
    description="Only the given fields change, and none unless all are valid. Only drafts can be edited.",
    body=schemas.CampaignInput,
    responses={200: ("The updated draft.", schemas.CampaignDetail)},
    problems={409: "The campaign is no longer a draft."},
)
def update_campaign(campaign_id: int) -> Any:
    campaign = _campaign_to_change(campaign_id)
    data = load_json(schemas.CampaignInput())
    return _detail_response(filing.update_draft(campaign, current_account(), data))


@bp.route("/campaigns/<int:campaign_id>/documents", methods=["POST"])
@roles(*APPLICANT_ROLES)
@operation(
    "Upload a document or photo",
    tag="campaigns",
    description="PDF, JPEG or PNG, checked by content; images are re-encoded without metadata. "
    "Evidence and photos can be added only while the campaign is a draft. One file per request; a campaign "
    "holds a limited number of photos and of evidence documents (a 422 names the limit).",
    body=schemas.DocumentUpload,
    body_media="multipart/form-data",
    responses={201: ("The stored document.", schemas.DocumentSchema)},
    problems={409: "The campaign is no longer a draft.", 413: "The request is too large."},
)
def upload_document(campaign_id: int) -> Any:
    campaign = _campaign_to_change(campaign_id)
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(_("Send the file as multipart/form-data with fields kind and file."))
    errors: dict[str, list[str]] = {}
    try:
        form = schemas.DocumentUpload(exclude=("file",)).load(request.form.to_dict())
    except ValidationError as error:
        errors.update(error.messages)  # type: ignore[arg-type]  # a schema's load() raises a dict of field messages
        form = {}
    upload = request.files.get("file")
    sent = sum(1 for _name, storage in request.files.items(multi=True) if storage.filename)
    if upload is None or not upload.filename:
        errors["file"] = [_("Attach the file in the field named file.")]
    elif sent > 1:
        errors["file"] = [_("Send one file per request; this request sent %(count)d.", count=sent)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    assert upload is not None
    try:
        received = document_service.read_upload(
            cast(BinaryIO, upload.stream), upload.filename or "upload", "file"
        )
        (document,) = document_service.attach(campaign, current_account(), [(form["kind"], received)])
    except ValidationFailed as error:
        # The service names the field after the document kind; here there is one file, in `file`.
        raise ValidationFailed(
            error.message, fields={"file": [m for messages in error.fields.values() for m in messages]}
        ) from error
    response = jsonify(schemas.DocumentSchema().dump(document))
    response.status_code = 201
    return response


@bp.route("/campaigns/<int:campaign_id>/submit", methods=["POST"])
@roles(*APPLICANT_ROLES)
@operation(
    "Submit a draft for verification",
    tag="campaigns",
    description="Checks that the campaign is complete (every required field and the diagnosis, cost "
    "estimate and identity documents) and that the patient has no other active campaign, then starts "
    "verification. No body is needed.",
    responses={200: ("The submitted campaign.", schemas.CampaignDetail)},
    problems={
        409: "The campaign is not a draft (already submitted).",
        422: "The campaign is incomplete; `errors` names what is missing.",
    },
)
def submit_campaign(campaign_id: int) -> Any:
    campaign = _campaign_to_change(campaign_id)
    return _detail_response(transitions.transition(campaign, "submit", actor=current_account()))


@bp.route("/campaigns/<int:campaign_id>/transitions/<name>", methods=["POST"])
@roles(*APPLICANT_ROLES, Role.CHARITY_STAFF, Role.ADMIN)
@operation(
    "Move a campaign along a transition",
    tag="campaigns",
    description="Who may make which transition, and from which states, is the campaign state machine's rule "
    "(DESIGN §4): e.g. the family or staff open and close fundraising and cancel; staff verify, reject, "
    "suspend and reinstate. Verify, reject, suspend, reinstate and cancel need a `reason`. The body is "
    "optional.",
    body=schemas.TransitionInput,
    body_required=False,
    path_parameters={"name": {"enum": CALLER_TRANSITIONS}},
    responses={200: ("The campaign after the transition.", schemas.CampaignDetail)},
    problems={
        404: "No such campaign or transition, or not one the caller may act on.",
        409: "The campaign's state does not allow this transition.",
    },
)
def transition_campaign(campaign_id: int, name: str) -> Any:
    if name not in CALLER_TRANSITIONS:
        raise NotFound(_("There is no transition called %(name)s.", name=name))
    campaign = _campaign_to_change(campaign_id)
    data = load_json(schemas.TransitionInput(), optional=True)
    moved = transitions.transition(campaign, name, actor=current_account(), reason=data.get("reason", ""))
    return _detail_response(moved)


# --- the caller ------------------------------------------------------------------------------------------


@bp.route("/me", methods=["GET"])
@signed_in
@operation("The signed-in account", tag="account", responses={200: ("The caller's account.", schemas.Me)})
def me() -> Any:
    user = current_account()
    body = schemas.Me(exclude=("authenticated_by",)).dump(user)
    body["authenticated_by"] = "session" if _authenticated_by_session() else "token"
    return body


# --- reference data --------------------------------------------------------------------------------------


@bp.route("/reference/regions", methods=["GET"])
@public
@operation(
    "Administrative regions (GB/T 2260)",
    tag="reference",
    query=schemas.RegionQuery,
    responses={200: ("Regions, by code.", schemas.RegionList)},
)
def regions() -> Any:
    filters = load_query(schemas.RegionQuery())
    query = select(Region).order_by(Region.code)
    if "level" in filters:
        query = query.where(Region.level == filters["level"])
    if "parent" in filters:
        query = query.where(Region.parent_code == filters["parent"])
    return schemas.RegionList().dump({"items": db.session.scalars(query).all()})


@bp.route("/reference/hospitals", methods=["GET"])
@public
@operation(
    "Registered hospitals",
    tag="reference",
    query=schemas.HospitalQuery,
    responses={200: ("Hospitals, by code.", schemas.HospitalList)},
)
def hospitals() -> Any:
    filters = load_query(schemas.HospitalQuery())
    query = select(Hospital).order_by(Hospital.code)
    if "region" in filters:
        query = query.where(Hospital.region_code.startswith(_region_prefix(filters["region"])))
    return schemas.HospitalList().dump({"items": db.session.scalars(query).all()})


@bp.route("/reference/diseases", methods=["GET"])
@public
@operation(
    "The critical-illness catalogue",
    tag="reference",
    description="ICD-10 code ranges, their category and a plausible treatment cost range.",
    query=schemas.DiseaseQuery,
    responses={200: ("Catalogue ranges, by first code.", schemas.DiseaseList)},
)
def diseases() -> Any:
    filters = load_query(schemas.DiseaseQuery())
    query = select(DiseaseRange).order_by(DiseaseRange.code_from)
    if "category" in filters:
        query = query.where(DiseaseRange.category == filters["category"])
    return schemas.DiseaseList().dump({"items": db.session.scalars(query).all()})


# --- the document ----------------------------------------------------------------------------------------


@bp.route("/openapi.json", methods=["GET"])
@public
@operation(
    "This API's OpenAPI 3.1 document",
    tag="meta",
    responses={
        200: (
            "The OpenAPI document.",
            {
                "type": "object",
                "required": ["openapi", "info", "paths", "components"],
                "properties": {"openapi": {"type": "string", "pattern": "^3\\.1\\."}},
            },
        )
    },
)
def openapi_document() -> Any:
    document = current_app.extensions.get("aidbridge_openapi")
    if document is None:
        document = current_app.extensions["aidbridge_openapi"] = build_document(current_app)
    return jsonify(document)
