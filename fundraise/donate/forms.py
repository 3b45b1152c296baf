"""Forms for giving and for staff refunds."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from fundraise.donate.presenters import SURPLUS_CHOICES
from fundraise.money import format_yuan
from fundraise.services.donations import EMAIL_SHAPE
from fundraise.web.fields import YuanField

# The amounts offered as one tap, in yuan.
PRESET_YUAN = (20, 50, 100, 500)
DEFAULT_PRESET_YUAN = 50


def _message_length(form: Any, field: Any) -> None:
    limit = current_app.config["DONATION_MESSAGE_MAX_CHARS"]
    if len((field.data or "").strip()) > limit:
        raise ValidationError(_l("Keep the message to %(n)d characters.", n=limit))


def _email_for_guests(form: Any, field: Any) -> None:
    text = (field.data or "").strip()
    if not text and not current_user.is_authenticated:
        raise ValidationError(_l("Give an e-mail address for your receipt (or sign in)."))
    if text and not EMAIL_SHAPE.fullmatch(text):
        raise ValidationError(_l("Enter an e-mail address like name@example.cn."))


class DonateForm(FlaskForm):
    preset = RadioField(
        _l("Choose an amount"),
        choices=[SelectChoice(str(yuan * 100), format_yuan(yuan * 100)) for yuan in PRESET_YUAN],
        validators=[Optional()],  # a typed amount may stand alone
    )
    custom_amount = YuanField(
        _l("Or another amount, in yuan"),
        description=_l("If you fill this in, it is used instead of the amount chosen above."),
    )
    display_name = StringField(
        _l("Name to show with your gift"),
        validators=[Length(max=64, message=_l("Keep the name to %(max)d characters."))],
        description=_l("The public list shows only its first character, like 张**."),
    )
    anonymous = BooleanField(_l("Give anonymously: show no name at all"))
    message = TextAreaField(
        _l("A message for the family (optional)"),
        validators=[_message_length],
        description=_l("Shown publicly with your gift."),
    )
    surplus_choice = RadioField(
        _l("If money is left over after the treatment"),
        choices=[SelectChoice(str(value), label) for value, label in SURPLUS_CHOICES.items()],
        default="refund",
        validators=[DataRequired(_l("Choose what happens to money left over."))],
    )
    email = EmailField(
        _l("E-mail for your receipt"),
        validators=[Length(max=254), _email_for_guests],
        description=_l("Only used to send your receipt. Never shown publicly."),
    )

    def amount_fen(self) -> int | None:
        """The amount chosen: the typed amount when there is one, otherwise the preset."""
        if self.custom_amount.data is not None:
            return int(self.custom_amount.data)
        if self.preset.data:
            return int(self.preset.data)
        return None
