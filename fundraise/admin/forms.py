"""Forms for administrators: staff accounts and charities."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from fundraise.models import Role
from fundraise.services.accounts import MIN_PASSWORD_LENGTH
from fundraise.web.templating import ROLE_LABELS


class AccountDetailsForm(FlaskForm):
    """Who an account is and what it acts for: the fields an admin sets when creating it and may edit later."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(role.value, ROLE_LABELS[role.value]) for role in Role],
        validators=[DataRequired()],
    )
    hospital_code = SelectField(
        _l("Hospital"), description=_l("For a hospital social worker."), validators=[Optional()]
    )
    charity_code = SelectField(_l("Charity"), description=_l("For charity staff."), validators=[Optional()])
    jurisdiction_code = StringField(
        _l("Jurisdiction (region code)"),
        validators=[Optional(), Length(max=6)],
        description=_l("For a civil-affairs officer: 340000 is all of Anhui, 341200 Fuyang, 341221 Linquan."),
    )

    def set_choices(self, hospitals: list[tuple[str, str]], charities: list[tuple[str, str]]) -> None:
        self.hospital_code.choices = [SelectChoice("", _l("— none —"))] + [
            SelectChoice(code, name) for code, name in hospitals
        ]
        self.charity_code.choices = [SelectChoice("", _l("— none —"))] + [
            SelectChoice(code, name) for code, name in charities
        ]


class AccountForm(AccountDetailsForm):
    """A new account, with the first password the admin gives the person."""

    password = PasswordField(
        _l("First password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=256)],
        description=_l(
            "At least %(n)d characters. Give it to the person safely; they can change it.",
            n=MIN_PASSWORD_LENGTH,
        ),
    )


class AccountEditForm(AccountDetailsForm):
    """An existing account. No password: the admin sends a reset link instead."""

    active = BooleanField(
        _l("Active: the account can sign in"),
        description=_l("Deactivating signs the account out everywhere and refuses its API tokens."),
    )
    finance = BooleanField(
        _l("Finance member: records bank transfers"),
        description=_l(
            "For charity staff only: may download the bank file and record disbursements' transfers."
        ),
    )


class CharityForm(FlaskForm):
    code = StringField(
        _l("Short code"),
        validators=[DataRequired(), Length(max=32)],
        description=_l("Capital letters, digits and dashes, e.g. CFCF."),
    )
    name_zh = StringField(_l("Name in Chinese"), validators=[DataRequired(), Length(max=128)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=256)])
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[DataRequired(), Length(min=18, max=18, message=_l("Exactly 18 characters."))],
    )
    region_code = StringField(
        _l("Registered in (region code)"),
        validators=[DataRequired(), Length(max=6)],
        description=_l("Six digits, e.g. 110105 for Chaoyang District, Beijing."),
    )


class ConfirmForm(FlaskForm):
    """A button that posts with a CSRF token (activate, deactivate, send a password reset link)."""
