"""The records import form for civil-affairs officers and administrators."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from fundraise.models import RecordKind

KIND_LABELS = {
    RecordKind.BASIC_ENROLMENT: _l("Basic medical insurance enrolment"),
    RecordKind.CRITICAL_ILLNESS: _l("Critical-illness insurance entitlement"),
    RecordKind.CIVIL_AFFAIRS: _l("Civil-affairs assistance status"),
}


class RecordsImportForm(FlaskForm):
    kind = SelectField(
        _l("Kind of records"),
        choices=[SelectChoice("", _l("Choose"))]
        + [SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        validators=[InputRequired(_l("Choose the kind of records."))],
        invalid_choice_message=_l("Choose the kind of records from the list."),
    )
    file_format = SelectField(
        _l("File format"),
        choices=[
            SelectChoice("", _l("From the file name (.csv or .json)")),
            SelectChoice("csv", "CSV"),
            SelectChoice("json", "JSON"),
        ],
        invalid_choice_message=_l("Choose CSV or JSON."),
    )
    file = FileField(
        _l("Feed file"),
        validators=[FileRequired(_l("Choose the file to import."))],
        description=_l(
            "UTF-8 CSV with a header row, or JSON. Every row is checked first: one faulty row and nothing is"
            " imported, and you get the list of faults."
        ),
        render_kw={"accept": ".csv,.json,text/csv,application/json"},
    )
