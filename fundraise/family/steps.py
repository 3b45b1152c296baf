"""The filing steps of the family's pages: the steps in order, the form each shows, where each item the
service may report missing is filled in, and the mapping between a step's form and the service's keys (a
campaign's values into the form, the form's inputs into the service's data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fundraise.family.forms import EVIDENCE_KINDS, CostsForm, DiagnosisForm, PatientForm, StoryForm
from fundraise.models import Campaign, DocumentKind
from fundraise.services.filing import MONEY_FIELDS, missing_items


@dataclass(frozen=True)
class Step:
    slug: str
    title: Any


STEPS = (
    Step("patient", _l("Patient")),
    Step("diagnosis", _l("Diagnosis and hospital")),
    Step("costs", _l("Costs and finances")),
    Step("story", _l("Story and photos")),
    Step("documents", _l("Evidence documents")),
    Step("review", _l("Review and submit")),
)
FORM_STEPS: dict[str, type[Any]] = {
    "patient": PatientForm,
    "diagnosis": DiagnosisForm,
    "costs": CostsForm,
    "story": StoryForm,
}
UPLOAD_FIELDS = {"story": (DocumentKind.PHOTO,), "documents": EVIDENCE_KINDS}

# Where each item the service may report missing is filled in, and what it is called there.
FIELD_STEPS = {
    "patient_name": ("patient", _l("Patient's full name")),
    "patient_id_number": ("patient", _l("Patient's national ID number")),
    "patient_birth_date": ("patient", _l("Birth date")),
    "patient_sex": ("patient", _l("Sex")),
    "patient_region_code": ("patient", _l("Household registration")),
    "relationship": ("patient", _l("Your relationship to the patient")),
    "diagnosis_icd10": ("diagnosis", _l("Diagnosis code (ICD-10)")),
    "diagnosis_text": ("diagnosis", _l("Diagnosis in words")),
    "hospital_code": ("diagnosis", _l("Hospital")),
    "admitted_on": ("diagnosis", _l("Admission date")),
    "referral_filed": ("diagnosis", _l("Referral and filing for treatment in another city")),
    "treatment_plan": ("diagnosis", _l("Treatment plan")),
    "cost_total_fen": ("costs", _l("Estimated total cost")),
    "cost_in_policy_fen": ("costs", _l("In-policy part of the cost")),
    "admissions": ("costs", _l("Admissions the treatment plan needs")),
    "next_year_cost_fen": ("costs", _l("Part of the cost that falls next year")),
    "next_year_admissions": ("costs", _l("Admissions that fall next year")),
    "target_fen": ("costs", _l("Amount you ask for")),
    "household_income_fen": ("costs", _l("Household income")),
    "household_size": ("costs", _l("People in the household")),
    "owns_house": ("costs", _l("Whether the household owns a house")),
    "owns_car": ("costs", _l("Whether the household owns a car")),
    "savings_fen": ("costs", _l("Savings")),
    "commercial_insurance_fen": ("costs", _l("Commercial insurance payout")),
    "other_fundraising_fen": ("costs", _l("Money raised elsewhere")),
    "title": ("story", _l("Title")),
    "story": ("story", _l("Your story")),
    "documents.diagnosis": ("documents", _l("Diagnosis certificate")),
    "documents.cost_estimate": ("documents", _l("Cost estimate")),
    "documents.identity": ("documents", _l("Identity documents")),
    "documents.household": ("documents", _l("Household documents")),
    # The consents are given on the review page, each on its own (fundraise/family/consent.py).
    "consent.sensitive_processing": ("review", _l("Consent to processing the sensitive information")),
    "consent.public_page": ("review", _l("Consent to the public page")),
}


def missing_list(fields: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The service's field errors as a list of items with a link to the step that fixes each."""
    items = []
    for key, messages in fields.items():
        step, label = FIELD_STEPS.get(key, ("review", key))
        items.append({"key": key, "step": step, "label": label, "messages": messages})
    order = [s.slug for s in STEPS]
    return sorted(items, key=lambda item: order.index(item["step"]))


def step_nav(campaign: Campaign | None, current: str) -> list[dict[str, Any]]:
    incomplete = (
        {FIELD_STEPS.get(key, ("review", ""))[0] for key in missing_items(campaign)} if campaign else set()
    )
    nav = []
    for number, step in enumerate(STEPS, start=1):
        if campaign is None:
            url = url_for("family.new_campaign") if step.slug == "patient" else None
        elif step.slug == "review":
            url = url_for("family.review", campaign_id=campaign.id)
        else:
            url = url_for("family.edit_step", campaign_id=campaign.id, step=step.slug)
        done = campaign is not None and step.slug != "review" and step.slug not in incomplete
        nav.append(
            {
                "number": number,
                "slug": step.slug,
                "title": step.title,
                "url": url,
                "done": done,
                "current": step.slug == current,
            }
        )
    return nav


def next_step(slug: str) -> str:
    order = [s.slug for s in STEPS]
    return order[min(order.index(slug) + 1, len(order) - 1)]


def first_incomplete_step(campaign: Campaign) -> str:
    missing = {FIELD_STEPS.get(key, ("review", ""))[0] for key in missing_items(campaign)}
    return next((s.slug for s in STEPS if s.slug in missing), "review")


def step_url(campaign: Campaign, slug: str) -> str:
    if slug == "review":
        return url_for("family.review", campaign_id=campaign.id)
    return url_for("family.edit_step", campaign_id=campaign.id, step=slug)


# --- form <-> campaign -------------------------------------------------------------------------------


def step_initial(campaign: Campaign, step: str) -> dict[str, Any]:
    if step == "patient":
        return {
            "patient_name": campaign.patient_name,
            "patient_birth_date": campaign.patient_birth_date,
            "patient_sex": campaign.patient_sex,
            "patient_region_code": campaign.patient_region_code or "",
            "relationship": campaign.relationship_to_patient or "",
        }
    if step == "diagnosis":
        return {
            "diagnosis_icd10": campaign.diagnosis_icd10 or "",
            "diagnosis_text": campaign.diagnosis_text,
            "hospital_code": campaign.hospital.code if campaign.hospital else "",
            "admitted_on": campaign.admitted_on,
            "referral_filed": _yes_no(campaign.referral_filed) or "",
            "treatment_plan": campaign.treatment_plan,
        }
    if step == "costs":
        # A fresh draft holds zeros it was never told; show blank inputs until the step has been saved.
        saved = campaign.household_size is not None or bool(campaign.cost_total_fen)
        data: dict[str, Any] = {field: getattr(campaign, field) if saved else None for field in MONEY_FIELDS}
        data.update(
            admissions=campaign.admissions,
            next_year_admissions=campaign.next_year_admissions,
            household_size=campaign.household_size,
            owns_house=_yes_no(campaign.owns_house),
            house_note=campaign.house_note,
            owns_car=_yes_no(campaign.owns_car),
            car_note=campaign.car_note,
            assistance_claimed=campaign.assistance_claimed,
        )
        return data
    if step == "story":
        return {"title": campaign.title, "story": campaign.story}
    return {}


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def step_data(form: Any, step: str, campaign: Campaign | None) -> dict[str, Any]:
    """The service's keys from a step's form; inputs left empty are not sent, so they keep their value."""
    if step == "patient":
        data: dict[str, Any] = {
            "patient_name": form.patient_name.data or "",
            "patient_birth_date": form.patient_birth_date.data,
            "patient_sex": form.patient_sex.data or None,
            "patient_region_code": form.patient_region_code.data or None,
            "relationship": form.relationship.data or None,
        }
        id_number = (form.patient_id_number.data or "").strip()
        if id_number:
            data["patient_id_number"] = id_number
        return data
    if step == "diagnosis":
        data = {
            "diagnosis_icd10": (form.diagnosis_icd10.data or "").strip() or None,
            "diagnosis_text": form.diagnosis_text.data or "",
            "hospital_code": form.hospital_code.data or None,
            "admitted_on": form.admitted_on.data,
            "treatment_plan": form.treatment_plan.data or "",
        }
        if form.referral_filed.raw_data:
            # "Not sure" (empty) is an answer too: it clears an earlier yes or no.
            data["referral_filed"] = {"yes": True, "no": False}.get(form.referral_filed.data or "")
        return data
    if step == "costs":
        data = {field: form[field].data for field in MONEY_FIELDS if form[field].data is not None}
        for field in ("household_size", "admissions", "next_year_admissions"):
            if form[field].data is not None:
                data[field] = form[field].data
        for field in ("owns_house", "owns_car"):
            if form[field].data in ("yes", "no"):
                data[field] = form[field].data == "yes"
        data["house_note"] = form.house_note.data or ""
        data["car_note"] = form.car_note.data or ""
        data["assistance_claimed"] = bool(form.assistance_claimed.data)
        return data
    if step == "story":
        return {"title": form.title.data or "", "story": form.story.data or ""}
    return {}


def check_against_stored_id(form: PatientForm, campaign: Campaign | None) -> bool:
    """Birth date and sex come from the ID number. When the stored number is kept (input left empty), a
    changed birth date or sex would contradict it, so it is refused here with a way out."""
    if campaign is None or not campaign.patient_id_index or form.patient_id_number.data:
        return True
    ok = True
    message = _("This does not match the stored ID number. To change it, enter the ID number again.")
    if form.patient_birth_date.data and form.patient_birth_date.data != campaign.patient_birth_date:
        form.patient_birth_date.errors = [*form.patient_birth_date.errors, message]
        ok = False
    if form.patient_sex.data and form.patient_sex.data != campaign.patient_sex:
        form.patient_sex.errors = [*form.patient_sex.errors, message]
        ok = False
    return ok
