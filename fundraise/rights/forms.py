"""Forms of the my-data pages: the archive download and the deletion request."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired, Length


class ArchiveForm(FlaskForm):
    """Only the CSRF token: a download is audited, so it is asked for by a form, not by a link."""


class DeletionForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=256)])
    confirm = BooleanField(
        _l("I understand that what is listed as erased is gone for good and my account is closed."),
        validators=[DataRequired(_l("Please confirm."))],
    )
