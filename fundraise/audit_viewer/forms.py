"""The audit-log viewer's filters: a GET form (it changes nothing, so it carries no CSRF token)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import get_timezone
from flask_babel import lazy_gettext as _l
from wtforms import DateField, Form, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional, Regexp

from fundraise.audit_viewer.labels import OBJECT_TYPES
from fundraise.request_limits import MAX_ID
from fundraise.services.audit_events import SYSTEM, EventFilter
from fundraise.web.templating import ROLE_LABELS

# What an object id, an action prefix and an object type look like in the log.
OBJECT_ID = r"^[A-Za-z0-9_.:-]*$"
ACTION = r"^[a-z_.]*$"


class AuditFilterForm(Form):
    object_type = SelectField(_l("Object"), validate_choice=False)
    object_id = StringField(
        _l("Object number"),
        validators=[
            Optional(),
            Length(max=64),
            Regexp(OBJECT_ID, message=_l("Use letters, digits, dots, colons, dashes and underscores only.")),
        ],
    )
    actor_role = SelectField(_l("Who acted"), validate_choice=False)
    actor_id = IntegerField(_l("Account number"), validators=[Optional(), NumberRange(min=1, max=MAX_ID)])
    action = StringField(
        _l("Action starts with"),
        validators=[
            Optional(),
            Length(max=64),
            Regexp(
                ACTION, message=_l("Lower-case letters, dots and underscores only, like “disbursement.”.")
            ),
        ],
        description=_l("The beginning of an action's code, as the log stores it."),
    )
    since = DateField(_l("First day"), validators=[Optional()])
    until = DateField(_l("Last day"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.object_type.choices = [SelectChoice("", _l("Any object"))] + [
            SelectChoice(code, label) for code, label in OBJECT_TYPES.items()
        ]
        self.actor_role.choices = (
            [SelectChoice("", _l("Anyone"))]
            + [SelectChoice(code, label) for code, label in ROLE_LABELS.items()]
            + [SelectChoice(SYSTEM, _l("Aidbridge (automatic)"))]
        )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = bool(super().validate(extra_validators))
        if self.object_type.data and self.object_type.data not in OBJECT_TYPES:
            self.object_type.errors = [_l("Choose an object from the list.")]
            valid = False
        if self.actor_role.data and self.actor_role.data not in (*ROLE_LABELS, SYSTEM):
            self.actor_role.errors = [_l("Choose who acted from the list.")]
            valid = False
        if self.since.data and self.until.data and self.until.data < self.since.data:
            self.until.errors = [*self.until.errors, _l("The end comes before the start.")]
            valid = False
        return valid

    def event_filter(self) -> EventFilter:
        since, until = day_range(self.since.data, self.until.data)
        return EventFilter(
            object_type=self.object_type.data or "",
            object_id=(self.object_id.data or "").strip(),
            actor_id=self.actor_id.data,
            actor_role=self.actor_role.data or "",
            action_prefix=(self.action.data or "").strip(),
            since=since,
            until=until,
        )


def day_range(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole days in the site's time zone (Asia/Shanghai) as instants: from the start of `since` to the end of
    `until`."""
    configured = get_timezone()  # pytz's; the same zone from the standard library, without pytz's localize()
    zone: tzinfo = ZoneInfo(str(configured)) if configured is not None else UTC

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)

    return (
        start_of(since) if since else None,
        start_of(until + timedelta(days=1)) if until else None,
    )
