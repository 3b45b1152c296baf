"""Filing a campaign: a draft started and changed field by field (each checked, all or nothing), what it
still lacks before it may be submitted, the hospital's confirmation of the stay and the audited reveal of the
ID number. Step by step: a step's fields and files are stored together, or not at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from fundraise import audit, pii
from fundraise.access import can_see_private, is_applicant_side
from fundraise.errors import Forbidden, IllegalTransition, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, DiseaseRange, DocumentKind, Hospital, Region, Role, User
from fundraise.models.columns import utcnow
from fundraise.services import accounts, block_list, documents
from fundraise.services.documents import Upload
from fundraise.services.policies import loaded_policies
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional, unit_of_work
from verification.diseases import DiseaseRange as DiseaseRangeData
from verification.diseases import find_category, normalize_icd10
from verification.identity import IdNumberError, ResidentId, consistency_errors, parse_resident_id
from verification.policy import policy_for

S = CampaignState
RELATIONSHIPS = ("self", "parent", "child", "spouse", "sibling", "grandparent", "other")
# Evidence a campaign must carry before it may be submitted.
REQUIRED_EVIDENCE = (DocumentKind.DIAGNOSIS, DocumentKind.COST_ESTIMATE, DocumentKind.IDENTITY)
# From submission until the campaign ends: one patient may have one such campaign, and records imports
# re-verify these.
ACTIVE_STATES = (S.SUBMITTED, S.VERIFYING, S.NEEDS_REVIEW, S.VERIFIED, S.FUNDRAISING, S.SUSPENDED)
MAX_COST_FEN = 20_000_000 * 100  # 20 million yuan: above any single treatment; larger is a typo
MAX_INCOME_FEN = 100_000_000 * 100

# Fields a family fills in; money fields are integers in fen.
TEXT_FIELDS = ("title", "story", "patient_name", "diagnosis_text", "treatment_plan", "house_note", "car_note")
# The rest (story, treatment plan) may run over several lines.
ONE_LINE_FIELDS = frozenset({"title", "patient_name", "diagnosis_text", "house_note", "car_note"})
MONEY_FIELDS = (
    "cost_total_fen",
    "cost_in_policy_fen",
    "target_fen",
    "household_income_fen",
    "savings_fen",
    "commercial_insurance_fen",
    "other_fundraising_fen",
    "next_year_cost_fen",
)
# Admissions a treatment plan may need in all (a long chemotherapy plan has a few dozen).
MAX_ADMISSIONS = 60
TEXT_LIMITS = {
    "title": 80,
    "patient_name": 64,
    "diagnosis_text": 200,
    "house_note": 200,
    "car_note": 200,
    "story": 20_000,
    "treatment_plan": 5_000,
}


# --- filing ----------------------------------------------------------------------------------------------


@transactional
def create_draft(applicant: User, data: dict[str, Any], *, filed_by: User | None = None) -> Campaign:
    """Start a campaign as a draft with whatever fields were given (each checked); commits."""
    if applicant.role != Role.FAMILY:
        raise Forbidden(_("Only a family account can own a campaign."))
    if not any(value not in (None, "") for value in data.values()):
        # An empty first step would leave an untitled draft behind for good.
        raise ValidationFailed(
            _("Fill in at least the patient's name before saving. Nothing was saved."),
            fields={"patient_name": [_("Enter the patient's name.")]},
        )
    campaign = Campaign(applicant_id=applicant.id, filed_by_id=filed_by.id if filed_by else None)
    actor = filed_by or applicant
    _apply_fields(campaign, data, actor)
    if filed_by is not None and campaign.hospital_id != filed_by.hospital_id:
        raise ValidationFailed(
            _("A social worker can file only for patients of their own hospital."),
            fields={"hospital_code": [_("Choose your own hospital.")]},
        )
    db.session.add(campaign)
    db.session.flush()
    audit.record("campaign.create", "campaign", campaign.id, actor=actor, after={"state": S.DRAFT})
    return campaign


@transactional
def update_draft(campaign: Campaign, actor: User, data: dict[str, Any]) -> Campaign:
    """Change a draft's fields; only drafts can be edited, so a verified case cannot be rewritten."""
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("You may not edit this campaign."))
    if campaign.state != S.DRAFT:
        raise IllegalTransition(_("Only a draft can be edited. This campaign has been submitted."))
    _apply_fields(campaign, data, actor)
    audit.record("campaign.edit", "campaign", campaign.id, actor=actor, after={"fields": sorted(data)})
    return campaign


def _apply_fields(campaign: Campaign, data: dict[str, Any], actor: User) -> None:
    """Validate every given field first and change nothing unless all of them are valid."""
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    birth_date = data.get("patient_birth_date")
    sex = data.get("patient_sex")

    def check_against(rid: ResidentId) -> None:
        """The birth date and sex given must agree with the ID number."""
        for problem in consistency_errors(rid, birth_date or rid.birth_date, sex or rid.sex):
            if problem == "birth_date_mismatch":
                fail("patient_birth_date", _("The birth date does not match the ID number."))
            else:
                fail("patient_sex", _("The sex does not match the ID number."))

    for field in TEXT_FIELDS:
        if field in data:
            value = (data[field] or "").strip()
            if len(value) > TEXT_LIMITS[field]:
                fail(field, _("At most %(n)d characters.", n=TEXT_LIMITS[field]))
            elif problem := text_problem(value, one_line=field in ONE_LINE_FIELDS):
                fail(field, problem)
            changes[field] = value

    for field in MONEY_FIELDS:
        if field in data and data[field] is not None:
            value = data[field]
            if isinstance(value, bool) or not isinstance(value, int):
                fail(field, _("Enter an amount in yuan, like 12000 or 12000.50."))
                continue
            limit = MAX_INCOME_FEN if field == "household_income_fen" else MAX_COST_FEN
            if value < 0:
                fail(field, _("The amount cannot be negative."))
            elif value > limit:
                fail(field, _("That amount is too large to be right. Please check it."))
            changes[field] = value

    if "household_size" in data and data["household_size"] is not None:
        size = data["household_size"]
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 30:
            fail("household_size", _("Enter the number of people in the household (1 to 30)."))
        else:
            changes["household_size"] = size
    for field in ("owns_house", "owns_car", "assistance_claimed"):
        if field in data and data[field] is not None:
            changes[field] = bool(data[field])
    for field, low in (("admissions", 1), ("next_year_admissions", 0)):
        if field in data and data[field] is not None:
            count = data[field]
            if isinstance(count, bool) or not isinstance(count, int) or not low <= count <= MAX_ADMISSIONS:
                fail(
                    field,
                    _("Enter a number of admissions from %(low)d to %(high)d.", low=low, high=MAX_ADMISSIONS),
                )
            else:
                changes[field] = count
    if "referral_filed" in data:
        referral = data["referral_filed"]
        if referral is not None and not isinstance(referral, bool):
            fail("referral_filed", _("Answer yes, no or not sure."))
        elif referral != campaign.referral_filed:
            # The social worker confirmed the old answer, not this one.
            changes["referral_filed"] = referral
            changes["referral_confirmed_by_id"] = None
            changes["referral_confirmed_at"] = None

    if data.get("relationship"):
        if data["relationship"] not in RELATIONSHIPS:
            fail("relationship", _("Choose the relationship from the list."))
        else:
            changes["relationship_to_patient"] = data["relationship"]

    if data.get("patient_region_code"):
        region = db.session.get(Region, data["patient_region_code"])
        if region is None or region.level != "county":
            fail("patient_region_code", _("Choose the county or district where the patient is registered."))
        else:
            changes["patient_region_code"] = region.code

    if data.get("hospital_code"):
        hospital = db.session.scalar(select(Hospital).where(Hospital.code == data["hospital_code"]))
        if hospital is None:
            fail("hospital_code", _("Choose a hospital from the registry."))
        elif actor.role == Role.SOCIAL_WORKER and hospital.id != actor.hospital_id:
            # On every change, not only at filing: a social worker acts for patients of their own hospital.
            fail("hospital_code", _("A social worker can file only for patients of their own hospital."))
        else:
            changes["hospital_id"] = hospital.id

    if data.get("diagnosis_icd10"):
        try:
            code = normalize_icd10(data["diagnosis_icd10"])
        except ValueError:
            fail("diagnosis_icd10", _("Enter an ICD-10 code such as C91.0 or Q21.3."))
        else:
            disease = disease_for_code(code)
            if disease is None:
                fail("diagnosis_icd10", _("This code is not in the critical-illness catalogue."))
            else:
                changes["diagnosis_icd10"] = code
                changes["disease_range_id"] = disease.id

    if data.get("admitted_on"):
        admitted = data["admitted_on"]
        if not isinstance(admitted, date) or admitted > date.today():
            fail("admitted_on", _("Enter the admission date; it cannot be in the future."))
        else:
            changes["admitted_on"] = admitted

    if sex and sex not in ("M", "F"):
        fail("patient_sex", _("Choose the patient's sex."))
    if data.get("patient_id_number"):
        try:
            rid = parse_resident_id(data["patient_id_number"])
        except IdNumberError as error:
            fail("patient_id_number", id_error_message(error.code))
        else:
            check_against(rid)
            if blocked := block_list.blocked_reason(pii.blind_index(rid.number)):
                fail("patient_id_number", blocked)
            changes["patient_id_ciphertext"] = pii.encrypt_id(rid.number)
            changes["patient_id_index"] = pii.blind_index(rid.number)
            changes["patient_id_masked"] = pii.mask_id(rid.number)
            changes["patient_birth_date"] = rid.birth_date
            changes["patient_sex"] = rid.sex
    elif birth_date or sex:
        if campaign.patient_id_ciphertext is not None:
            # The number stays; the birth date and sex must still agree with it.
            stored = parse_resident_id(pii.decrypt_id(campaign.patient_id_ciphertext))
            check_against(stored)
        if isinstance(birth_date, date):
            changes["patient_birth_date"] = birth_date
        if sex in ("M", "F"):
            changes["patient_sex"] = sex

    total = changes.get("cost_total_fen", campaign.cost_total_fen) or 0
    in_policy = changes.get("cost_in_policy_fen", campaign.cost_in_policy_fen) or 0
    if in_policy > total and "cost_in_policy_fen" not in errors:
        fail("cost_in_policy_fen", _("The in-policy part cannot be more than the total cost."))
    _check_next_year(campaign, changes, errors, fail, total)
    target = changes.get("target_fen", campaign.target_fen) or 0
    if target > current_app.config["MAX_TARGET_FEN"] and "target_fen" not in errors:
        fail("target_fen", _("A single request may ask for at most 500,000 yuan."))
    if total and target > total and "target_fen" not in errors:
        fail("target_fen", _("The target cannot be more than the total cost of treatment."))

    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    for field, value in changes.items():
        setattr(campaign, field, value)


def _check_next_year(
    campaign: Campaign,
    changes: dict[str, Any],
    errors: dict[str, list[str]],
    fail: Callable[[str, str], None],
    total: int,
) -> None:
    """The plan's next-year part: within the total cost, and its admissions fit the plan's (the first
    admission is this year's, so at most all but one fall next year)."""
    if errors.keys() & {"next_year_cost_fen", "admissions", "next_year_admissions"}:
        return
    next_cost = changes.get("next_year_cost_fen", campaign.next_year_cost_fen) or 0
    admissions = changes.get("admissions", campaign.admissions) or 1
    next_admissions = changes.get("next_year_admissions", campaign.next_year_admissions) or 0
    if next_cost > total:
        fail("next_year_cost_fen", _("The part that falls next year cannot be more than the total cost."))
    if next_cost > 0:
        if next_admissions < 1:
            fail(
                "next_year_admissions",
                _("If part of the cost falls next year, at least one admission falls next year too."),
            )
        elif next_admissions > admissions - 1:
            fail(
                "next_year_admissions",
                _(
                    "The first admission is this year, so at most %(n)d of the %(total)d admissions can fall "
                    "next year. Check the number of admissions in all.",
                    n=admissions - 1,
                    total=admissions,
                ),
            )
    elif next_admissions > 0:
        fail(
            "next_year_admissions",
            _("Enter 0, or enter the part of the cost that falls next year."),
        )


def id_error_message(code: str) -> str:
    messages = {
        "length": _("An ID number has 18 characters."),
        "characters": _("An ID number has 17 digits followed by a digit or X."),
        "region": _("The first six digits of this ID number are not the code of a real county or city."),
        "birth_date": _("The birth date inside this ID number is not a real date."),
        "check_digit": _(
            "This ID number's last character does not match (check digit). Please check each digit."
        ),
    }
    return str(messages.get(code, _("This is not a valid ID number.")))


def disease_for_code(code: str) -> DiseaseRange | None:
    rows = db.session.scalars(select(DiseaseRange)).all()
    ranges = [
        DiseaseRangeData(
            r.code_from, r.code_to, r.category, r.name_zh, r.name_en, r.cost_min_fen, r.cost_max_fen
        )
        for r in rows
    ]
    found = find_category(code, ranges)
    if found is None:
        return None
    return next(r for r in rows if r.code_from == found.code_from)


# Municipalities directly under the central government pool insurance city-wide (北京, 天津, 上海, 重庆).
_MUNICIPALITIES = ("11", "12", "31", "50")


def treated_out_of_region(campaign: Campaign) -> bool | None:
    """Whether the campaign's hospital lies outside the patient's pooling region, so that the referral and
    filing (转诊/异地就医备案) matters; None while the hospital or the household registration is unknown.

    The pooling region is the one the loaded benefit policy for the treatment year names; without one, the
    patient's prefecture (the whole city for a municipality)."""
    region = campaign.patient_region_code
    hospital = campaign.hospital
    if not region or hospital is None:
        return None
    year = (campaign.admitted_on or date.today()).year
    policy = policy_for(loaded_policies(), region, year)
    if policy is not None:
        return not policy.covers(hospital.region_code)
    prefix = region[:2] if region[:2] in _MUNICIPALITIES else region[:4]
    return not hospital.region_code.startswith(prefix)


@transactional
def confirm_stay(campaign: Campaign, social_worker: User, *, referral_filed: bool | None = None) -> Campaign:
    """A social worker of the campaign's hospital confirms the patient's stay and the cost estimate, and
    with them the family's answer whether the treatment was referred and filed (转诊/异地就医备案).

    When the family has not answered, the worker may give the answer (`referral_filed`): it is stored and
    confirmed together. An answer the family gave is not changed here (the family edits its draft). A stay
    confirmed before the family answered, or before it changed its answer, has the answer confirmed now.
    """
    if social_worker.role != Role.SOCIAL_WORKER or social_worker.hospital_id != campaign.hospital_id:
        raise Forbidden(_("Only a social worker of this hospital can confirm the stay."))
    if campaign.state in (S.CANCELLED, S.REJECTED, S.CLOSED):
        raise IllegalTransition(_("This campaign is no longer active."))
    if (
        referral_filed is not None
        and campaign.referral_filed is not None
        and referral_filed != campaign.referral_filed
    ):
        raise ValidationFailed(
            _("The family has already answered about the referral; ask them to change it in the filing."),
            fields={"referral_filed": [_("The family's answer stands until they change it.")]},
        )
    answer = campaign.referral_filed if campaign.referral_filed is not None else referral_filed
    confirm_referral = answer is not None and campaign.referral_confirmed_at is None
    confirm_the_stay = campaign.stay_confirmed_at is None
    if not confirm_the_stay and not confirm_referral:
        return campaign
    if confirm_the_stay and (campaign.admitted_on is None or not campaign.cost_total_fen):
        raise ValidationFailed(
            _("Enter the admission date and the cost estimate before confirming the stay."),
            fields={"admitted_on": [_("Required before the stay can be confirmed.")]},
        )
    now = utcnow()
    after: dict[str, Any] = {"hospital_id": campaign.hospital_id}
    if confirm_the_stay:
        campaign.stay_confirmed_by_id = social_worker.id
        campaign.stay_confirmed_at = now
    if confirm_referral:
        if campaign.referral_filed is None:
            after["referral_answered_by_hospital"] = True
        campaign.referral_filed = answer
        campaign.referral_confirmed_by_id = social_worker.id
        campaign.referral_confirmed_at = now
        after["referral_filed"] = answer
    audit.record(
        "campaign.confirm_stay" if confirm_the_stay else "campaign.confirm_referral",
        "campaign",
        campaign.id,
        actor=social_worker,
        after=after,
    )
    return campaign


@transactional
def reveal_id_number(campaign: Campaign, user: User) -> str:
    """The full ID number, for roles that need it; every reveal is audited."""
    if campaign.patient_id_ciphertext is None:
        raise NotFound(_("No ID number has been entered."))
    if not can_see_private(user, campaign):
        raise Forbidden(_("You may not see this ID number."))
    audit.record("campaign.reveal_id", "campaign", campaign.id, actor=user)
    return pii.decrypt_id(campaign.patient_id_ciphertext)


def missing_items(campaign: Campaign) -> dict[str, list[str]]:
    """What a campaign still lacks before it may be submitted, by field (empty when complete)."""
    missing: dict[str, list[str]] = {}
    required = {
        "title": campaign.title,
        "story": campaign.story,
        "patient_name": campaign.patient_name,
        "patient_id_number": campaign.patient_id_index,
        "patient_region_code": campaign.patient_region_code,
        "relationship": campaign.relationship_to_patient,
        "diagnosis_icd10": campaign.diagnosis_icd10,
        "hospital_code": campaign.hospital_id,
        "treatment_plan": campaign.treatment_plan,
        "cost_total_fen": campaign.cost_total_fen,
        "target_fen": campaign.target_fen,
        "household_size": campaign.household_size,
        "owns_house": campaign.owns_house,
        "owns_car": campaign.owns_car,
    }
    for field, value in required.items():
        # False is a real answer ("no car"); zero is not a real cost or target.
        if value is None or value == "" or (value == 0 and not isinstance(value, bool)):
            missing[field] = [_("This is required before you submit.")]
    if blocked := block_list.blocked_reason(campaign.patient_id_index):
        missing["patient_id_number"] = [blocked]
    kinds = {document.kind for document in campaign.documents}
    for kind in REQUIRED_EVIDENCE:
        if kind not in kinds:
            missing[f"documents.{kind}"] = [_("Please upload this document before you submit.")]
    return missing


# --- step by step ---------------------------------------------------------------------------------------


def save_step(campaign: Campaign, actor: User, data: dict[str, Any], files: list[tuple[str, Upload]]) -> None:
    """The files are checked and re-encoded first, with no transaction open (no lock is held while images
    decode); then the files and the fields are one unit of work: a field the draft refuses removes the files
    written with it."""
    prepared = documents.prepare_for(campaign, actor, files) if files else []
    with unit_of_work():
        if prepared:
            documents.store(campaign, actor, prepared)
        if data:
            update_draft(campaign, actor, data)


def open_case_for_family(
    social_worker: User, family: User | None, *, email: str, name: str, phone: str | None, password: str
) -> tuple[User, Campaign]:
    """A social worker starts a draft for a family of their hospital, opening the family's account first
    when it has none (with `password`, which the worker hands over): one unit of work, so a draft the
    service refuses leaves no account behind."""
    with unit_of_work():
        if family is None:
            family = accounts.register(email, name, password, Role.FAMILY)
            family.phone = (phone or "").strip() or None
            audit.record(
                "user.opened_for_family",
                "user",
                family.id,
                actor=social_worker,
                after={"hospital_id": social_worker.hospital_id},
            )
        hospital_code = social_worker.hospital.code if social_worker.hospital else None
        campaign = create_draft(family, {"hospital_code": hospital_code}, filed_by=social_worker)
    return family, campaign
