"""API v1 schemas (marshmallow 4): what the API accepts and what it answers with.

The same classes validate requests, shape responses and are turned into the OpenAPI document, so the
document cannot drift from what the code does.

Money is an integer number of fen in both directions (DESIGN §4); each amount in a response also comes as a
formatted yuan string beside it (`target_fen: 15000000`, `target_yuan: "¥150,000"`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import url_for
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from fundraise.access import can_see_private
from fundraise.models import Campaign, DocumentKind, User
from fundraise.models.campaigns import FILING_EVIDENCE
from fundraise.money import format_yuan
from fundraise.pagination import MAX_PAGE
from fundraise.pii import mask_name
from fundraise.services import donations as donation_service
from fundraise.services.filing import MAX_ADMISSIONS, RELATIONSHIPS, TEXT_LIMITS
from fundraise.services.transitions import available_transitions
from fundraise.states import EXPLANATIONS, PUBLIC_STATES, state_label
from fundraise.verification_text import reason_text

# Kinds a client may upload to a campaign; update photos belong to progress updates, not to the campaign.
UPLOAD_KINDS = (DocumentKind.PHOTO.value, *(kind.value for kind in FILING_EVIDENCE))
REGION_LEVELS = ("province", "prefecture", "county")
MAX_PER_PAGE = 100


# --- fields ----------------------------------------------------------------------------------------------


class Fen(fields.Integer):
    """An amount of money in fen (1 yuan = 100 fen): a whole, non-negative JSON number.

    Floats (even 100.0), strings and booleans are refused: no float ever touches money, and "100" is more
    likely a yuan amount typed into the wrong field than fen.
    """

    default_error_messages = {  # noqa: RUF012 - marshmallow types it on Field as an instance attribute
        "invalid": "Amounts are whole numbers of fen (1 yuan = 100 fen), such as 15000000 for ¥150,000; "
        "not decimals or strings."
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=0, error="The amount cannot be negative."))
        metadata = {"description": "Amount in fen (integer).", "example": 15_000_000}
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(strict=True, metadata=metadata, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):  # True is an int to Python, never to a ledger
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Yuan(fields.String):
    """The formatted yuan string of a fen amount on the same object, for people to read."""

    def __init__(self, fen_attribute: str, **kwargs: Any) -> None:
        super().__init__(
            attribute=fen_attribute,
            dump_only=True,
            metadata={"description": f"`{fen_attribute}` formatted in yuan.", "example": "¥150,000"},
            **kwargs,
        )

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_yuan(value)


class StrictBoolean(fields.Boolean):
    """A JSON true or false; "yes", 1 and "false" are refused rather than guessed at."""

    default_error_messages = {"invalid": "Not a boolean: send true or false."}  # noqa: RUF012 - as above

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(fields.Integer):
    """A JSON integer: no floats, strings or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def _text(field: str, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=TEXT_LIMITS[field]), **kwargs)


def _api_url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, _external=True, **values)


# --- problem documents -----------------------------------------------------------------------------------


class Problem(Schema):
    """An RFC 9457 problem document (application/problem+json)."""

    # Fields a response may leave out (every other one is listed as required: see fundraise.api.openapi).
    OPTIONAL_IN_RESPONSE: ClassVar[tuple[str, ...]] = ("detail", "errors")

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Unprocessable Content"})
    status = fields.Integer(metadata={"example": 422})
    detail = fields.String(metadata={"example": "Please correct the marked fields."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages by field name, for validation errors (422)."},
    )


# --- reference data --------------------------------------------------------------------------------------


class RegionSchema(Schema):
    code = fields.String(metadata={"example": "341221"})
    name_zh = fields.String(metadata={"example": "临泉县"})
    name_en = fields.String(metadata={"example": "Linquan County"})
    level = fields.String(validate=validate.OneOf(REGION_LEVELS))
    parent_code = fields.String(allow_none=True)


class HospitalSchema(Schema):
    code = fields.String(metadata={"example": "AH-PROV"})
    name_zh = fields.String()
    name_en = fields.String()
    tier = fields.String(validate=validate.OneOf(("tertiary", "secondary", "primary")))
    region_code = fields.String()
    social_work = fields.Boolean(metadata={"description": "Whether the hospital has medical social workers."})


class DiseaseSchema(Schema):
    code_from = fields.String(metadata={"example": "C91"})
    code_to = fields.String(metadata={"example": "C95"})
    category = fields.String(metadata={"example": "leukemia"})
    name_zh = fields.String()
    name_en = fields.String()
    cost_min_fen = Fen()
    cost_min_yuan = Yuan("cost_min_fen")
    cost_max_fen = Fen()
    cost_max_yuan = Yuan("cost_max_fen")


class RegionList(Schema):
    items = fields.List(fields.Nested(RegionSchema))


class HospitalList(Schema):
    items = fields.List(fields.Nested(HospitalSchema))


class DiseaseList(Schema):
    items = fields.List(fields.Nested(DiseaseSchema))


class RegionQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    level = fields.String(validate=validate.OneOf(REGION_LEVELS))
    parent = fields.String(
        validate=validate.Regexp(r"^\d{6}$", error="A region code has six digits."),
        metadata={"description": "Only the regions directly under this region code."},
    )


class HospitalQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    region = fields.String(
        validate=validate.Regexp(r"^\d{2,6}$", error="Give a region code or its first digits."),
        metadata={"description": "Region-code prefix: `34` is Anhui, `3412` Fuyang."},
    )


class DiseaseQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    category = fields.String(validate=validate.Length(max=64))


# --- campaigns: responses --------------------------------------------------------------------------------


class PhotoSchema(Schema):
    id = fields.Integer()
    url = fields.Function(
        lambda document: _api_url("documents.show", document_id=document.id), metadata={"type": "string"}
    )


class DocumentSchema(Schema):
    """An evidence document, listed only to those who may see the campaign's private part."""

    id = fields.Integer()
    kind = fields.String(validate=validate.OneOf([kind.value for kind in DocumentKind]))
    original_name = fields.String()
    content_type = fields.String(metadata={"example": "application/pdf"})
    size_bytes = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()
    url = fields.Function(
        lambda document: _api_url("documents.show", document_id=document.id), metadata={"type": "string"}
    )


class _CampaignBase(Schema):
    id = fields.Integer()
    url = fields.Function(
        lambda campaign: _api_url("api.get_campaign", campaign_id=campaign.id),
        metadata={"type": "string", "description": "This campaign in the API."},
    )
    title = fields.String()
    # Masked by the very function the public pages use, for every caller: the full name is only ever in
    # `private`, for those allowed to see it.
    patient_name = fields.Function(
        lambda campaign: mask_name(campaign.patient_name),
        metadata={
            "type": "string",
            "description": "The patient's name masked to the surname, as the public pages show it; the "
            "full name is in `private`.",
            "example": "王**",
        },
    )
    state = fields.String(validate=validate.OneOf([str(state) for state in EXPLANATIONS]))
    state_label = fields.Function(lambda campaign: state_label(campaign.state), metadata={"type": "string"})
    patient_region = fields.Nested(RegionSchema, allow_none=True)
    disease = fields.Nested(DiseaseSchema, allow_none=True)
    hospital = fields.Nested(HospitalSchema, allow_none=True)
    target_fen = Fen()
    target_yuan = Yuan("target_fen")
    state_changed_at = fields.DateTime()


class CampaignSummary(_CampaignBase):
    """A campaign in the public list."""

    photo = fields.Function(
        lambda campaign: (
            _api_url("documents.show", document_id=campaign.photos[0].id) if campaign.photos else None
        ),
        metadata={"type": ["string", "null"], "description": "The first photo, if any."},
    )


class CampaignPage(Schema):
    items = fields.List(fields.Nested(CampaignSummary))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer(metadata={"description": "Campaigns matching the filters, on all pages."})
    next = fields.String(allow_none=True, metadata={"description": "The next page, or null on the last."})
    prev = fields.String(
        allow_none=True, metadata={"description": "The previous page, or null on the first."}
    )


class CampaignPrivate(Schema):
    """What only the applicant side, charity staff and officers of the patient's region may see."""

    patient_name = fields.String(metadata={"description": "The patient's full name."})
    patient_id_masked = fields.String(
        allow_none=True, metadata={"example": "3412**********123X", "description": "The ID number, masked."}
    )
    patient_birth_date = fields.Date(allow_none=True)
    patient_sex = fields.String(allow_none=True, validate=validate.OneOf(("M", "F")))
    relationship = fields.String(attribute="relationship_to_patient", allow_none=True)
    household_income_fen = Fen(metadata={"description": "Yearly income of all household members, in fen."})
    household_income_yuan = Yuan("household_income_fen")
    household_size = fields.Integer(allow_none=True)
    owns_house = fields.Boolean(allow_none=True)
    house_note = fields.String()
    owns_car = fields.Boolean(allow_none=True)
    car_note = fields.String()
    savings_fen = Fen()
    savings_yuan = Yuan("savings_fen")
    commercial_insurance_fen = Fen()
    commercial_insurance_yuan = Yuan("commercial_insurance_fen")
    other_fundraising_fen = Fen()
    other_fundraising_yuan = Yuan("other_fundraising_fen")
    assistance_claimed = fields.Boolean()
    referral_filed = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "Treatment outside the pooling region was referred and filed (转诊/异地就医备案);"
            " null: not answered."
        },
    )
    referral_confirmed = fields.Function(
        lambda campaign: campaign.referral_confirmed_at is not None,
        metadata={
            "type": "boolean",
            "description": "The hospital's social worker confirmed the referral answer (read-only).",
        },
    )
    documents = fields.List(fields.Nested(DocumentSchema), attribute="evidence")
    applicant_id = fields.Integer()
    filed_by_id = fields.Integer(allow_none=True)
    decision_reason = fields.Function(
        lambda campaign: reason_text(campaign.decision_reason),
        metadata={
            "type": "string",
            "description": "Why the campaign is in its state, in the caller's language.",
        },
    )
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)


class CampaignDetail(_CampaignBase):
    """One campaign. `private` is present only for callers who may see it (see CampaignPrivate)."""

    OPTIONAL_IN_RESPONSE: ClassVar[tuple[str, ...]] = ("private",)

    story = fields.String()
    diagnosis_icd10 = fields.String(allow_none=True)
    diagnosis_text = fields.String()
    admitted_on = fields.Date(allow_none=True)
    treatment_plan = fields.String()
    cost_total_fen = Fen()
    cost_total_yuan = Yuan("cost_total_fen")
    cost_in_policy_fen = Fen()
    cost_in_policy_yuan = Yuan("cost_in_policy_fen")
    admissions = fields.Integer(metadata={"description": "Admissions the treatment plan needs in all."})
    next_year_admissions = fields.Integer(
        metadata={
            "description": "Of the admissions, those in the next calendar year (0: the plan ends this year)."
        }
    )
    next_year_cost_fen = Fen(
        metadata={"description": "Of the total cost, the part in the next calendar year, in fen (0: none)."}
    )
    next_year_cost_yuan = Yuan("next_year_cost_fen")
    raised_fen = fields.Function(
        lambda campaign: donation_service.raised_fen(campaign),
        metadata={"type": "integer", "description": "What donors gave and kept, in fen."},
    )
    committed_fen = fields.Function(
        lambda campaign: donation_service.committed_fen(campaign),
        metadata={"type": "integer", "description": "Relief projects' approved support, in fen."},
    )
    remaining_need_fen = fields.Function(
        lambda campaign: donation_service.remaining_need_fen(campaign),
        metadata={
            "type": "integer",
            "description": "Target − raised − approved support, never below 0: what a gift may be at most.",
        },
    )
    stay_confirmed = fields.Function(
        lambda campaign: campaign.stay_confirmed_at is not None,
        metadata={"type": "boolean", "description": "The hospital's social worker confirmed the stay."},
    )
    photos = fields.List(fields.Nested(PhotoSchema))
    transitions = fields.List(
        fields.String(),
        metadata={"description": "Transitions the caller may make now (POST …/transitions/{name})."},
    )
    private = fields.Nested(CampaignPrivate)


def campaign_detail(campaign: Campaign, viewer: User | None) -> dict[str, Any]:
    """The detail document for this viewer: the private part only for those allowed to see it."""
    body: dict[str, Any] = CampaignDetail(exclude=("private", "transitions")).dump(campaign)
    body["transitions"] = [t.name for t in available_transitions(campaign, viewer)] if viewer else []
    if can_see_private(viewer, campaign):
        body["private"] = CampaignPrivate().dump(campaign)
    return body


# --- campaigns: requests ---------------------------------------------------------------------------------


class CampaignInput(Schema):
    """The fields a family (or their social worker) fills in; every one is optional while a draft.

    Whether the campaign is complete is checked on submit; cross-field rules (in-policy cost within the total,
    target within the cost and the 500,000-yuan cap, ID number consistent with birth date and sex) are checked
    by the campaign service and reported per field in the same way.
    """

    class Meta:
        unknown = RAISE

    title = _text("title")
    story = _text("story")
    patient_name = _text("patient_name")
    patient_id_number = fields.String(
        load_only=True,
        validate=validate.Length(max=32),
        metadata={"description": "GB 11643 resident ID number (18 characters); stored encrypted."},
    )
    patient_birth_date = fields.Date()
    patient_sex = fields.String(validate=validate.OneOf(("M", "F")))
    patient_region_code = fields.String(
        validate=validate.Regexp(r"^\d{6}$", error="A region code has six digits."),
        metadata={"description": "County-level region code where the patient is registered."},
    )
    relationship = fields.String(validate=validate.OneOf(RELATIONSHIPS))
    diagnosis_icd10 = fields.String(validate=validate.Length(max=8), metadata={"example": "C91.0"})
    diagnosis_text = _text("diagnosis_text")
    hospital_code = fields.String(validate=validate.Length(max=32), metadata={"example": "AH-PROV"})
    admitted_on = fields.Date()
    treatment_plan = _text("treatment_plan")
    cost_total_fen = Fen()
    cost_in_policy_fen = Fen()
    admissions = StrictInteger(
        validate=validate.Range(min=1, max=MAX_ADMISSIONS),
        metadata={"description": "Admissions the treatment plan needs in all (default 1)."},
    )
    next_year_cost_fen = Fen(
        metadata={
            "description": "Of the total cost, the part in the next calendar year (0: the plan ends this year);"
            " at most the total cost."
        }
    )
    next_year_admissions = StrictInteger(
        validate=validate.Range(min=0, max=MAX_ADMISSIONS),
        metadata={
            "description": "Of the admissions, those in the next calendar year: 0 when there is no next-year"
            " cost, otherwise 1 to admissions - 1 (the first admission is this year)."
        },
    )
    referral_filed = StrictBoolean(
        allow_none=True,
        metadata={
            "description": "For a hospital outside the patient's pooling region: the treatment was referred"
            " and filed (转诊/异地就医备案); null: not sure. Changing it drops the social worker's confirmation."
        },
    )
    target_fen = Fen()
    household_income_fen = Fen()
    household_size = StrictInteger(validate=validate.Range(min=1, max=30))
    owns_house = StrictBoolean()
    house_note = _text("house_note")
    owns_car = StrictBoolean()
    car_note = _text("car_note")
    savings_fen = Fen()
    commercial_insurance_fen = Fen()
    other_fundraising_fen = Fen()
    assistance_claimed = StrictBoolean(
        metadata={
            "description": "The family has already claimed the medical assistance (医疗救助) its civil-affairs"
            " class entitles it to."
        }
    )


class CampaignCreate(CampaignInput):
    """A new draft. A social worker files for a family: `family_email` names the family's account."""

    family_email = fields.Email(
        metadata={"description": "Required from a social worker, refused from a family."},
    )


class DocumentUpload(Schema):
    """multipart/form-data: the document's kind and the file (PDF, JPEG or PNG, checked by content)."""

    class Meta:
        unknown = EXCLUDE  # the form may also carry csrf_token

    kind = fields.String(required=True, validate=validate.OneOf(UPLOAD_KINDS))
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class TransitionInput(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(
        validate=validate.Length(max=2000),
        metadata={"description": "Required for verify, reject, suspend, reinstate and cancel."},
    )


class CampaignQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    region = fields.String(
        validate=validate.Regexp(r"^\d{2,6}$", error="Give a region code or its first digits."),
        metadata={"description": "Region-code prefix: `34` is Anhui, `3412` Fuyang, `341221` Linquan."},
    )
    category = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Disease category, e.g. `leukemia`."}
    )
    state = fields.String(validate=validate.OneOf(sorted(PUBLIC_STATES)))
    q = fields.String(
        validate=validate.Length(max=100), metadata={"description": "Words in the title, story or diagnosis."}
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))


# --- the caller ------------------------------------------------------------------------------------------


class Me(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    locale = fields.String(allow_none=True)
    hospital = fields.Nested(HospitalSchema, allow_none=True)
    charity_code = fields.Function(
        lambda user: user.charity.code if user.charity else None, metadata={"type": ["string", "null"]}
    )
    jurisdiction_code = fields.String(allow_none=True)
    authenticated_by = fields.String(validate=validate.OneOf(("token", "session")))


__all__ = [
    "CampaignCreate",
    "CampaignDetail",
    "CampaignInput",
    "CampaignPage",
    "CampaignPrivate",
    "CampaignQuery",
    "CampaignSummary",
    "DiseaseList",
    "DocumentSchema",
    "DocumentUpload",
    "HospitalList",
    "Me",
    "Problem",
    "RegionList",
    "TransitionInput",
    "ValidationError",
    "campaign_detail",
]
