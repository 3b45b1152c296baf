"""Forms on the public pages: the browse filters, the report form and the vouching form."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, SearchField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fundraise.services.campaign_reports import (
    CONTACT_MAX,
    DETAILS_MAX,
    DETAILS_MIN,
    OBJECTION,
    REASONS,
    is_contact,
)
from fundraise.services.search import MAX_QUERY_LENGTH
from fundraise.services.vouching import RELATIONSHIP_LABELS
from fundraise.states import LABELS


class BrowseForm(Form):
    """The filters above the campaign list. A GET form: it changes nothing, so it carries no CSRF token."""

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=MAX_QUERY_LENGTH)])
    province = SelectField(_l("Province"), validate_choice=False)
    category = SelectField(_l("Illness"), validate_choice=False)
    state = SelectField(_l("Status"), validate_choice=False)

    def set_choices(
        self, provinces: list[tuple[str, str]], categories: list[tuple[str, str]], states: list[str]
    ) -> None:
        self.province.choices = [SelectChoice("", _l("All provinces"))] + [
            SelectChoice(code, name) for code, name in provinces
        ]
        self.category.choices = [SelectChoice("", _l("All illnesses"))] + [
            SelectChoice(code, name) for code, name in categories
        ]
        self.state.choices = [SelectChoice("", _l("Any status"))] + [
            SelectChoice(state, str(LABELS[state])) for state in states
        ]


def _contact_when_signed_out(form: Any, field: Any) -> None:
    text = (field.data or "").strip()
    if not text and not current_user.is_authenticated:
        raise ValidationError(_l("Leave an e-mail address or phone number so we can ask you more."))
    if text and not is_contact(text):
        raise ValidationError(_l("Enter an e-mail address or a phone number."))


class ReportForm(FlaskForm):
    reason = SelectField(
        _l("What is wrong?"),
        choices=[SelectChoice("", _l("Choose a reason"))]
        + [SelectChoice(code, label) for code, label in REASONS.items()],
        validators=[DataRequired(_l("Choose a reason from the list."))],
    )
    details = TextAreaField(
        _l("What do you know?"),
        validators=[
            DataRequired(_l("Describe what you know.")),
            Length(
                min=DETAILS_MIN,
                max=DETAILS_MAX,
                message=_l("Describe what you know in %(min)d to %(max)d characters."),
            ),
        ],
        description=_l("Facts you can point to help most: what you saw, where, and when."),
    )
    contact = StringField(
        _l("Your e-mail or phone"),
        validators=[Length(max=CONTACT_MAX), _contact_when_signed_out],
        description=_l("Only charity staff see it, to ask you more. Required when you are not signed in."),
    )
    # The payment objected to ("Object to this payment" on a disbursement in its public notice), if any.
    disbursement = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offer_objection(bool(self.disbursement.data))

    def offer_objection(self, objecting: bool) -> None:
        """An objection to a payment is a reason only on the form that names the payment; it is then the
        reason chosen unless the visitor picks another."""
        self.reason.choices = [SelectChoice("", _l("Choose a reason"))] + [
            SelectChoice(code, label) for code, label in REASONS.items() if objecting or code != OBJECTION
        ]
        if objecting and not self.reason.data:
            self.reason.data = OBJECTION


class VouchForm(FlaskForm):
    relationship = SelectField(
        _l("How do you know the family?"),
        choices=[SelectChoice("", _l("Choose"))]
        + [SelectChoice(code, label) for code, label in RELATIONSHIP_LABELS.items()],
        validators=[DataRequired(_l("Choose how you know the family."))],
    )
    statement = StringField(
        _l("In a line, what you know"),
        validators=[DataRequired(_l("Write a line of your own."))],
        description=_l(
            "For example: we are neighbours, I have seen the child's hospital stay. 5 to 200 characters."
        ),
    )
