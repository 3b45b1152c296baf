"""The filing forms, one per step, plus the small forms of the campaign actions.

Field names are the service's keys (fundraise.services.filing._apply_fields), so a service's field errors
land on the input they are about. Uploads are named by document kind for the same reason.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from fundraise import consent_text
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.models import DiseaseRange, DocumentKind, Hospital, Region
from fundraise.models.consents import GUARDIAN_RELATIONSHIPS, UNABLE_REASONS
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.services.consents import UNABLE_TEXT_MAX
from fundraise.services.filing import TEXT_LIMITS
from fundraise.web.fields import YuanField

RELATIONSHIP_LABELS = {
    "self": _l("The patient is me"),
    "parent": _l("I am the patient's parent"),
    "child": _l("I am the patient's child"),
    "spouse": _l("I am the patient's spouse"),
    "sibling": _l("I am the patient's brother or sister"),
    "grandparent": _l("I am the patient's grandparent"),
    "other": _l("Other relative or guardian"),
}
SEX_LABELS = {"M": _l("Male"), "F": _l("Female")}
TIER_LABELS = {"tertiary": _l("tertiary"), "secondary": _l("secondary"), "primary": _l("primary")}
YES_NO = [SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))]
IMAGE_ACCEPT = "image/jpeg,image/png"
DOCUMENT_ACCEPT = "application/pdf,image/jpeg,image/png"
DATE_MESSAGE = _l("Enter a date, like 2026-09-01.")
# WTForms' own messages would come in its translation; these say the same in our words, in our catalogue.
TOO_LONG = _l("At most %(max)d characters.")
YES_OR_NO = _l("Answer yes or no.")
REFERRAL_CHOICES = [
    SelectChoice("yes", _l("Yes, it was referred and filed")),
    SelectChoice("no", _l("No")),
    SelectChoice("", _l("Not sure")),
]
ADMISSIONS_MESSAGE = _l("Enter the number of admissions (1 to 60).")
NEXT_YEAR_ADMISSIONS_MESSAGE = _l("Enter the number of admissions next year (0 to 60).")


def _length(field: str) -> Length:
    return Length(max=TEXT_LIMITS[field], message=TOO_LONG)


def _blank(label: Any) -> SelectChoice:
    return SelectChoice("", label)


def county_choices() -> list[SelectChoice]:
    """Every county-level region, grouped by province and prefecture (no JavaScript needed)."""
    locale = locale_name()
    counties = db.session.scalars(select(Region).where(Region.level == "county").order_by(Region.code)).all()
    choices = [_blank(_("Choose the county or district"))]
    for county in counties:
        group = county.parent.full_name(locale) if county.parent else ""
        choices.append(SelectChoice(county.code, county.name(locale), optgroup=group))
    return choices


def hospital_choices(only: Hospital | None = None) -> list[SelectChoice]:
    """Hospitals of the registry grouped by province; just one when the hospital is fixed."""
    locale = locale_name()
    if only is not None:
        return [SelectChoice(only.code, _hospital_label(only, locale))]
    hospitals = db.session.scalars(select(Hospital).order_by(Hospital.region_code, Hospital.code)).all()
    choices = [_blank(_("Choose the hospital"))]
    for hospital in hospitals:
        province = hospital.region
        while province is not None and province.parent is not None:
            province = province.parent
        group = province.name(locale) if province else ""
        choices.append(SelectChoice(hospital.code, _hospital_label(hospital, locale), optgroup=group))
    return choices


def _hospital_label(hospital: Hospital, locale: str) -> str:
    return f"{hospital.name(locale)} ({TIER_LABELS.get(hospital.tier, hospital.tier)})"


def disease_catalogue() -> list[DiseaseRange]:
    return list(db.session.scalars(select(DiseaseRange).order_by(DiseaseRange.code_from)))


class PatientForm(FlaskForm):
    patient_name = StringField(
        _l("Patient's full name"),
        validators=[Optional(), _length("patient_name")],
        description=_l("As written on the identity card or household register."),
    )
    patient_id_number = StringField(
        _l("Patient's national ID number"),
        validators=[Optional(), Length(max=32, message=_l("An ID number has 18 characters."))],
        description=_l(
            "18 characters, the last may be X. It is stored encrypted and shown masked to everyone else."
        ),
    )
    patient_birth_date = DateField(_l("Birth date"), validators=[Optional()], format="%Y-%m-%d")
    patient_sex = RadioField(
        _l("Sex"),
        choices=[SelectChoice(value, label) for value, label in SEX_LABELS.items()],
        validators=[Optional()],
        invalid_choice_message=_l("Choose the patient's sex."),
    )
    patient_region_code = SelectField(
        _l("Household registration (county or district)"),
        description=_l(
            "Where the patient's household is registered (户籍), which decides the insurance rules."
        ),
        invalid_choice_message=_l("Choose the county or district from the list."),
    )
    relationship = SelectField(
        _l("Your relationship to the patient"),
        choices=[_blank(_l("Choose"))]
        + [SelectChoice(value, label) for value, label in RELATIONSHIP_LABELS.items()],
        invalid_choice_message=_l("Choose the relationship from the list."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patient_region_code.choices = county_choices()
        self.patient_birth_date.process_errors = [
            DATE_MESSAGE for _e in self.patient_birth_date.process_errors
        ]


class DiagnosisForm(FlaskForm):
    diagnosis_icd10 = StringField(
        _l("Diagnosis code (ICD-10)"),
        validators=[Optional(), Length(max=8, message=_l("Enter an ICD-10 code such as C91.0 or Q21.3."))],
        description=_l(
            "The code on the diagnosis certificate, e.g. C91.0. It must belong to the critical-illness "
            "catalogue below; if the certificate shows no code, pick the closest category and the reviewer "
            "will check it."
        ),
    )
    diagnosis_text = StringField(
        _l("Diagnosis in words"),
        validators=[Optional(), _length("diagnosis_text")],
        description=_l("As the doctor wrote it, e.g. “acute lymphoblastic leukaemia”."),
    )
    hospital_code = SelectField(
        _l("Hospital"), invalid_choice_message=_l("Choose a hospital from the registry.")
    )
    admitted_on = DateField(_l("Admission date"), validators=[Optional()], format="%Y-%m-%d")
    referral_filed = RadioField(
        _l(
            "If the hospital is outside your own city: was the treatment referred and filed (转诊/异地就医备案) "
            "with your medical insurance?"
        ),
        choices=REFERRAL_CHOICES,
        validators=[Optional()],
        invalid_choice_message=_l("Choose yes, no or not sure."),
        description=_l(
            "It changes how much medical insurance and medical assistance pay for treatment in another city. "
            "The hospital's social worker will confirm your answer. “Not sure” counts as not filed until "
            "someone checks. If the hospital is in your own city, leave this as it is."
        ),
    )
    treatment_plan = TextAreaField(
        _l("Treatment plan"),
        validators=[Optional(), _length("treatment_plan")],
        description=_l("What the doctors plan and how long it will take."),
    )

    def __init__(self, *args: Any, fixed_hospital: Hospital | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hospital_code.choices = hospital_choices(fixed_hospital)
        if fixed_hospital is not None:
            self.hospital_code.description = _("A social worker files for patients of their own hospital.")
            self.hospital_code.invalid_choice_message = _(
                "A social worker can file only for patients of their own hospital."
            )
        self.admitted_on.process_errors = [DATE_MESSAGE for _e in self.admitted_on.process_errors]


class CostsForm(FlaskForm):
    cost_total_fen = YuanField(
        _l("Estimated total cost of treatment (yuan)"),
        description=_l("From the hospital's cost estimate, in yuan."),
    )
    cost_in_policy_fen = YuanField(
        _l("Of which inside the insurance catalogue (yuan)"),
        description=_l("The in-policy part (医保目录内) that basic medical insurance can cover."),
    )
    admissions = IntegerField(
        _l("Admissions the treatment plan needs in all"),
        validators=[Optional(), NumberRange(min=1, max=60, message=ADMISSIONS_MESSAGE)],
        description=_l("Each stay in hospital counts once, e.g. 6 for six rounds of chemotherapy."),
        render_kw={"inputmode": "numeric", "min": 1, "max": 60},
    )
    next_year_cost_fen = YuanField(
        _l("Of the total, the part that falls next year (yuan)"),
        description=_l(
            "Enter 0 if the plan ends this year. Insurance deductibles and limits start again on 1 January, "
            "so the part of the cost that falls next year is counted separately."
        ),
    )
    next_year_admissions = IntegerField(
        _l("Of the admissions, how many fall next year"),
        validators=[Optional(), NumberRange(min=0, max=60, message=NEXT_YEAR_ADMISSIONS_MESSAGE)],
        description=_l("Enter 0 if the plan ends this year."),
        render_kw={"inputmode": "numeric", "min": 0, "max": 60},
    )
    target_fen = YuanField(
        _l("Amount you ask for (yuan)"),
        description=_l(
            "At most the total cost and at most 500,000 yuan. Verification may lower it to the gap left "
            "after insurance and assistance."
        ),
    )
    household_income_fen = YuanField(
        _l("Household income in the last 12 months (yuan)"),
        description=_l("All members of the household together, before tax."),
    )
    household_size = IntegerField(
        _l("People in the household"),
        validators=[
            Optional(),
            NumberRange(min=1, max=30, message=_l("Enter the number of people in the household (1 to 30).")),
        ],
        render_kw={"inputmode": "numeric", "min": 1, "max": 30},
    )
    owns_house = RadioField(
        _l("Does the household own a house or flat?"),
        choices=YES_NO,
        validators=[Optional()],
        invalid_choice_message=YES_OR_NO,
    )
    house_note = StringField(
        _l("About the house"),
        validators=[Optional(), _length("house_note")],
        description=_l("Where it is and roughly what it is worth, e.g. “village house, self-built”."),
    )
    owns_car = RadioField(
        _l("Does the household own a car?"),
        choices=YES_NO,
        validators=[Optional()],
        invalid_choice_message=YES_OR_NO,
    )
    car_note = StringField(
        _l("About the car"),
        validators=[Optional(), _length("car_note")],
        description=_l("Make, year and roughly what it is worth; say if it is used for work."),
    )
    savings_fen = YuanField(_l("Savings and deposits (yuan)"))
    commercial_insurance_fen = YuanField(
        _l("Commercial insurance payout expected (yuan)"),
        description=_l("Enter 0 if the patient has no commercial insurance."),
    )
    other_fundraising_fen = YuanField(
        _l("Money already raised elsewhere (yuan)"),
        description=_l("Other platforms, employer or community collections."),
    )
    assistance_claimed = BooleanField(
        _l("We have already claimed medical assistance (医疗救助) for this treatment"),
        description=_l(
            "Families with a civil-affairs status (特困, 低保, 低保边缘, 防止返贫监测 or 因病致贫) are entitled to "
            "medical assistance. Tick this if you have claimed it, from civil affairs or through the hospital's "
            "one-stop settlement. If you have not, verification will tell you how much to expect and ask you to "
            "claim it before fundraising opens."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.household_size.process_errors = [
            _("Enter a whole number of people.") for _e in self.household_size.process_errors
        ]
        self.admissions.process_errors = [str(ADMISSIONS_MESSAGE) for _e in self.admissions.process_errors]
        self.next_year_admissions.process_errors = [
            str(NEXT_YEAR_ADMISSIONS_MESSAGE) for _e in self.next_year_admissions.process_errors
        ]


class StoryForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[Optional(), _length("title")],
        description=_l("One line donors will see first, e.g. “Help Xiaoming beat leukaemia”."),
    )
    story = TextAreaField(
        _l("Your story"),
        validators=[Optional(), _length("story")],
        description=_l(
            "Who the patient is, what happened, what the treatment needs and what the family has done. "
            "Everything you write must be true."
        ),
    )
    photo = MultipleFileField(
        _l("Add photos"),
        description=_l("JPEG or PNG. Location and camera details are removed before they are stored."),
        render_kw={"accept": IMAGE_ACCEPT},
    )


class DocumentsForm(FlaskForm):
    diagnosis = MultipleFileField(
        _l("Diagnosis certificate"),
        description=_l("The hospital's diagnosis certificate (诊断证明), stamped. PDF, JPEG or PNG."),
        render_kw={"accept": DOCUMENT_ACCEPT},
    )
    cost_estimate = MultipleFileField(
        _l("Cost estimate"),
        description=_l("The hospital's written estimate of the treatment cost. PDF, JPEG or PNG."),
        render_kw={"accept": DOCUMENT_ACCEPT},
    )
    identity = MultipleFileField(
        _l("Identity documents"),
        description=_l(
            "The patient's ID card (both sides) or birth certificate, and yours if you are not the patient."
        ),
        render_kw={"accept": DOCUMENT_ACCEPT},
    )
    household = MultipleFileField(
        _l("Household documents"),
        description=_l("Household register (户口本) pages, and any 低保 or other assistance certificate."),
        render_kw={"accept": DOCUMENT_ACCEPT},
    )


# The evidence kinds in the order the documents step shows them.
EVIDENCE_KINDS = (
    DocumentKind.DIAGNOSIS,
    DocumentKind.COST_ESTIMATE,
    DocumentKind.IDENTITY,
    DocumentKind.HOUSEHOLD,
)


class CancelForm(FlaskForm):
    reason = TextAreaField(
        _l("Why are you cancelling?"),
        validators=[DataRequired(_l("A reason is required.")), Length(max=2000, message=TOO_LONG)],
        description=_l("Donors and reviewers will see that the campaign was cancelled and why."),
    )


class UpdateForm(FlaskForm):
    body = TextAreaField(
        _l("What has happened since?"),
        validators=[
            InputRequired(_l("Write the update.")),
            Length(min=10, max=5000, message=_l("Write between 10 and 5000 characters.")),
        ],
        description=_l("Treatment progress, how the money was used, what comes next. 10 to 5000 characters."),
    )
    photos = MultipleFileField(
        _l("Photos (optional)"),
        description=_l("JPEG or PNG, up to 9."),
        render_kw={"accept": IMAGE_ACCEPT},
    )


class CloseOutForm(FlaskForm):
    """Closing a campaign out: the final bill and an optional word to the charity (1000 characters at most,
    the close-out service's NOTE_MAX)."""

    bill = FileField(
        _l("The final bill"),
        description=_l("The hospital's final bill or discharge settlement: a PDF, JPEG or PNG file."),
        render_kw={"accept": DOCUMENT_ACCEPT},
    )
    note = TextAreaField(
        _l("A note for the charity (optional)"),
        validators=[Optional(), Length(max=1000)],
        description=_l("For example: discharged on 12 May; the last stay is settled."),
    )


# --- consent (fundraise/family/consent.py) ---------------------------------------------------------------


class ConsentForm(FlaskForm):
    """Consent to one purpose. Nothing is ticked in advance; whose consent it is depends on the patient's
    age and on who files, so the choices are set per campaign (`for_campaign`)."""

    agree = BooleanField(_l("I agree"), validators=[DataRequired(_l("Tick the box to give this consent."))])
    basis = RadioField(
        _l("Whose consent this is"), choices=[], validators=[Optional()], validate_choice=False
    )
    guardian_relationship = RadioField(
        _l("How you are the child's guardian"),
        choices=[SelectChoice(code, consent_text.GUARDIAN_LABELS[code]) for code in GUARDIAN_RELATIONSHIPS],
        validators=[Optional()],
        validate_choice=False,
    )
    unable_reason_code = SelectField(
        _l("Why the patient cannot consent"),
        choices=[
            SelectChoice("", "—"),
            *(SelectChoice(code, consent_text.UNABLE_LABELS[code]) for code in UNABLE_REASONS),
        ],
        validators=[Optional()],
        validate_choice=False,
    )
    unable_reason_text = TextAreaField(
        _l("The patient's condition, in a few words"),
        validators=[Optional(), Length(max=UNABLE_TEXT_MAX)],
        description=_l(
            "For example: in the intensive care unit since 3 November, sedated. Seen only by staff."
        ),
    )
    notice_version = HiddenField(default=NOTICE_VERSION)


class OwnConsentForm(FlaskForm):
    """The patient, now 14, consents themselves (recorded by the family's account holder, or by the patient
    when the account is theirs)."""

    agree = BooleanField(
        _l("The patient has read the privacy notice and agrees to the processing of their information."),
        validators=[DataRequired(_l("Tick the box to record the patient's consent."))],
    )
    agree_public = BooleanField(_l("The patient also agrees to the campaign's public page."))
    notice_version = HiddenField(default=NOTICE_VERSION)
