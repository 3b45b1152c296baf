"""Forms of the social worker's pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp


class FamilyAccountForm(FlaskForm):
    email = EmailField(
        _l("The family's e-mail"),
        validators=[
            DataRequired(_l("Enter the family's e-mail.")),
            Length(max=254, message=_l("Enter a valid e-mail address.")),
        ],
        description=_l("If the family already has an account, this is all we need."),
    )
    name = StringField(
        _l("Name of the family member who will manage the campaign"),
        validators=[Optional(), Length(max=64, message=_l("At most %(max)d characters."))],
        description=_l("Only for a new account."),
    )
    phone = StringField(
        _l("Phone number"),
        validators=[
            Optional(),
            Regexp(r"^\+?[0-9][0-9 \-]{5,30}$", message=_l("Enter a phone number, digits only.")),
        ],
        description=_l("Only for a new account; optional."),
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )


class ConfirmStayForm(FlaskForm):
    """The confirmation button; where the family has not said whether the treatment was referred and filed,
    the worker answers here and the answer is confirmed with the stay."""

    referral_filed = RadioField(
        _l("Was the treatment referred and filed (转诊/异地就医备案) with the patient's medical insurance?"),
        choices=[
            SelectChoice("yes", _l("Yes, it was referred and filed")),
            SelectChoice("no", _l("No, it was not")),
        ],
        validators=[Optional()],
        invalid_choice_message=_l("Answer yes or no."),
    )
