"""Forms for relief projects (rules included), deposits, status changes, runs and offer decisions."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from fundraise.matching_text import PROJECT_STATUSES
from fundraise.public.presenters import HOSPITAL_TIERS
from fundraise.verification_text import ASSISTANCE_CLASSES
from fundraise.web.fields import YuanField

_SPLIT = re.compile(r"[\s,，;；、]+")


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of check boxes (a multiple select is hard to use on a phone)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def words(text: str | None) -> list[str]:
    """What a person typed as a list: "C91, C92 Q20" → ["C91", "C92", "Q20"]."""
    return [word for word in _SPLIT.split(text or "") if word]


class ProjectForm(FlaskForm):
    name = StringField(_l("Project name"), validators=[DataRequired(), Length(max=80)])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=4000)],
        description=_l("Whom the project helps and how; families read it on their dashboard."),
    )
    source_url = StringField(_l("Web page of the programme"), validators=[Optional(), Length(max=255)])
    disease_categories = CheckboxesField(_l("Diseases"), validators=[Optional()])
    icd10_prefixes = StringField(
        _l("or ICD-10 codes"),
        validators=[Optional(), Length(max=400)],
        description=_l(
            "Code prefixes separated by commas, e.g. C91, C92, Q21. A case qualifies by disease or code."
        ),
    )
    min_age = IntegerField(_l("Youngest age"), validators=[Optional()])
    max_age = IntegerField(_l("Oldest age"), validators=[Optional()])
    region_prefixes = StringField(
        _l("Regions"),
        validators=[Optional(), Length(max=400)],
        description=_l(
            "Region-code prefixes separated by commas: 34 is all of Anhui, 3412 Fuyang. Empty: anywhere."
        ),
    )
    assistance_classes = CheckboxesField(
        _l("Civil-affairs classes"),
        choices=[SelectChoice(value, label) for value, label in ASSISTANCE_CLASSES.items()],
        validators=[Optional()],
        description=_l("None ticked: any household, with or without a class."),
    )
    max_income_per_capita = YuanField(
        _l("Highest yearly household income per person"), description=_l("In yuan. Empty: no ceiling.")
    )
    hospital_tiers = CheckboxesField(
        _l("Hospital tiers"),
        choices=[SelectChoice(value, label) for value, label in HOSPITAL_TIERS.items()],
        validators=[Optional()],
    )
    per_case_cap = YuanField(_l("Most for one case"), description=_l("In yuan."))
    deposit = YuanField(
        _l("Budget deposited"), description=_l("In yuan: the charity's transfer that funds the project.")
    )
    deposit_reference = StringField(_l("Bank transfer reference"), validators=[Optional(), Length(max=64)])
    opens_on = DateField(_l("Open from"), validators=[Optional()])
    closes_on = DateField(_l("Open until"), validators=[Optional()])

    RULE_FIELDS = (
        "disease_categories",
        "icd10_prefixes",
        "min_age",
        "max_age",
        "region_prefixes",
        "assistance_classes",
        "max_income_per_capita",
        "hospital_tiers",
    )
    # The service's names for the fields that the form names differently.
    ALIASES: ClassVar[dict[str, str]] = {
        **{f"rules.{name}": name for name in RULE_FIELDS},
        "rules.max_income_per_capita_fen": "max_income_per_capita",
        "rules": "disease_categories",
        "per_case_cap_fen": "per_case_cap",
        "deposit_fen": "deposit",
    }

    def rule(self) -> dict[str, Any]:
        """The rule as matching.rules_from_dict reads it: only the conditions that were filled in."""
        rule: dict[str, Any] = {}
        if self.disease_categories.data:
            rule["disease_categories"] = list(self.disease_categories.data)
        if words(self.icd10_prefixes.data):
            rule["icd10_prefixes"] = [word.upper() for word in words(self.icd10_prefixes.data)]
        if self.min_age.data is not None:
            rule["min_age"] = self.min_age.data
        if self.max_age.data is not None:
            rule["max_age"] = self.max_age.data
        if words(self.region_prefixes.data):
            rule["region_prefixes"] = words(self.region_prefixes.data)
        if self.assistance_classes.data:
            rule["assistance_classes"] = list(self.assistance_classes.data)
        if self.max_income_per_capita.data is not None:
            rule["max_income_per_capita_fen"] = self.max_income_per_capita.data
        if self.hospital_tiers.data:
            rule["hospital_tiers"] = list(self.hospital_tiers.data)
        return rule

    def fill_rules(self, rule: dict[str, Any]) -> None:
        """Show a stored rule in the form."""
        self.disease_categories.data = list(rule.get("disease_categories", []))
        self.icd10_prefixes.data = ", ".join(rule.get("icd10_prefixes", []))
        self.min_age.data = rule.get("min_age")
        self.max_age.data = rule.get("max_age")
        self.region_prefixes.data = ", ".join(rule.get("region_prefixes", []))
        self.assistance_classes.data = list(rule.get("assistance_classes", []))
        self.max_income_per_capita.data = rule.get("max_income_per_capita_fen")
        self.hospital_tiers.data = list(rule.get("hospital_tiers", []))

    def service_fields(self) -> dict[str, Any]:
        return {
            "name": self.name.data,
            "description": self.description.data,
            "source_url": self.source_url.data,
            "rules": self.rule(),
            "per_case_cap_fen": self.per_case_cap.data,
            "deposit_fen": self.deposit.data,
            "deposit_reference": (self.deposit_reference.data or "").strip(),
            "opens_on": self.opens_on.data,
            "closes_on": self.closes_on.data,
        }


class DepositForm(FlaskForm):
    amount = YuanField(_l("Amount"), validators=[DataRequired()], description=_l("In yuan."))
    reference = StringField(_l("Bank transfer reference"), validators=[DataRequired(), Length(max=64)])


class StatusForm(FlaskForm):
    status = SelectField(
        _l("Status"),
        choices=[SelectChoice(value, label) for value, label in PROJECT_STATUSES.items()],
    )


class RunForm(FlaskForm):
    dry_run = BooleanField(_l("Dry run: show what would change, make no offers"))


class DecisionForm(FlaskForm):
    offer_ids = SelectMultipleField(_l("Offers"), coerce=int, validate_choice=False)
    decision = SelectField(
        _l("Decision"),
        choices=[SelectChoice("approve", _l("Approve")), SelectChoice("decline", _l("Decline"))],
    )
    note = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=500)],
        description=_l("Needed to decline: the family reads it."),
    )
