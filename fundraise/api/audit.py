"""The audit log's signed checkpoints, published for anyone to keep copies of (fundraise/audit.py), and the
log's events for charity staff, admins and officers (fundraise/services/audit_events.py).

Views on the API blueprint (fundraise.api.routes.bp). Someone who saves the checkpoints today can later run
`flask audit verify --against FILE` (or check the signatures themselves) to show the log was not cut short or
rewritten since.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import EXCLUDE, Schema, fields, validate

from fundraise import audit, person_keys
from fundraise.access import current_account, public, roles
from fundraise.api.common import load_query
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.audit_viewer.forms import day_range
from fundraise.audit_viewer.labels import action_text, actor_text
from fundraise.i18n import locale_name
from fundraise.models import Role
from fundraise.request_limits import MAX_ID
from fundraise.services import audit_events

MAX_CHECKPOINTS = 1000


# Personal details are sealed under per-person keys in the stored event (fundraise/person_keys.py).
SEALED_NOTE = (
    "Fields as stored, with personal details opened for the reader; a detail whose person was erased reads"
    ' {"sealed": "erased", "text": "..."}.'
)


class CheckpointQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    after_seq = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={"description": "Only checkpoints of the chain beyond this event (0: from the start)."},
    )
    limit = fields.Integer(load_default=MAX_CHECKPOINTS, validate=validate.Range(min=1, max=MAX_CHECKPOINTS))


class Checkpoint(Schema):
    seq = fields.Integer(metadata={"description": "The chain reached this event (its sequence number)."})
    head_hash = fields.String(metadata={"description": "That event's hash (hex SHA-256)."})
    sealed_at = fields.String(metadata={"description": "When the checkpoint was signed (ISO 8601, UTC)."})
    key_id = fields.String(metadata={"description": "The first 16 hex digits of SHA-256 of the public key."})
    signature = fields.String(metadata={"description": "Ed25519 signature, base64."})


class CheckpointList(Schema):
    algorithm = fields.String(metadata={"example": "Ed25519"})
    public_key = fields.String(metadata={"description": "The raw 32-byte Ed25519 public key, base64."})
    key_id = fields.String()
    signed_payload = fields.String(
        metadata={
            "description": "What each signature covers: the UTF-8 JSON of {seq, head_hash, sealed_at, key_id} "
            "with keys sorted and no spaces."
        }
    )
    checkpoints = fields.List(fields.Nested(Checkpoint))
    next = fields.String(allow_none=True, metadata={"description": "The next page, or null when up to date."})


@bp.route("/audit/checkpoints", methods=["GET"])
@public
@operation(
    "The audit log's signed checkpoints",
    tag="transparency",
    description="Every checkpoint of the audit log's hash chain, oldest first: the chain's length and head "
    "hash at a moment, signed with the platform's Ed25519 key. Keep copies: a later log that no longer reaches "
    "a checkpoint you hold, or reaches it with another hash, was cut short or rewritten.",
    query=CheckpointQuery,
    responses={200: ("Checkpoints from after_seq on.", CheckpointList)},
)
def audit_checkpoints() -> Any:
    query = load_query(CheckpointQuery())
    items = audit.checkpoints_published(query["after_seq"], query["limit"])
    key = audit.public_key()
    following = None
    if len(items) == query["limit"]:
        following = url_for(
            "api.audit_checkpoints", after_seq=items[-1]["seq"], limit=query["limit"], _external=True
        )
    return CheckpointList().dump(
        {
            "algorithm": "Ed25519",
            "public_key": key.public_key,
            "key_id": key.key_id,
            "signed_payload": "canonical JSON of {seq, head_hash, sealed_at, key_id}",
            "checkpoints": items,
            "next": following,
        }
    )


# --- the events, for staff, admins and officers ----------------------------------------------------------

ACTOR_ROLES = [str(role) for role in Role] + [audit_events.SYSTEM]


class EventQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    object_type = fields.String(
        load_default="",
        validate=validate.Regexp(r"^[a-z_]{0,32}$"),
        metadata={
            "description": "Only events about this kind of object (campaign, disbursement, report, …)."
        },
    )
    object_id = fields.String(
        load_default="",
        validate=[validate.Length(max=64), validate.Regexp(r"^[A-Za-z0-9_.:-]*$")],
        metadata={"description": "Only events about the object with this id (with object_type)."},
    )
    actor_id = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=MAX_ID), metadata={"description": "Who acted."}
    )
    actor_role = fields.String(
        load_default="",
        validate=validate.OneOf(["", *ACTOR_ROLES]),
        metadata={"description": "Only events by accounts of this role; `system` for automatic ones."},
    )
    action = fields.String(
        load_default="",
        validate=[validate.Length(max=64), validate.Regexp(r"^[a-z_.]*$")],
        metadata={
            "description": "Only actions starting with this, e.g. `document.` or `campaign.reveal_id`."
        },
    )
    since = fields.Date(load_default=None, metadata={"description": "From this day on (China time)."})
    until = fields.Date(load_default=None, metadata={"description": "Up to and including this day."})
    before = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={
            "description": "Keyset cursor: only events with a smaller id (the previous page's `next`)."
        },
    )
    limit = fields.Integer(
        load_default=audit_events.PAGE_SIZE, validate=validate.Range(min=1, max=audit_events.MAX_PAGE_SIZE)
    )


class EventActor(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "The account, or null for the platform."})
    role = fields.String(metadata={"example": "charity_staff"})
    text = fields.String(
        metadata={"description": "Role and organisation in words, in the caller's language."}
    )
    organisation_kind = fields.String(metadata={"description": "charity, hospital, jurisdiction, or empty."})
    organisation = fields.String()


class EventItem(Schema):
    id = fields.Integer()
    seq = fields.Integer(
        allow_none=True, metadata={"description": "Place in the hash chain; null until sealed."}
    )
    created_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    actor = fields.Nested(EventActor)
    action = fields.String(metadata={"example": "document.view"})
    action_text = fields.String(metadata={"description": "The action in words where a label exists."})
    object_type = fields.String(metadata={"example": "campaign"})
    object_id = fields.String()
    before = fields.Dict(allow_none=True, metadata={"description": SEALED_NOTE})
    after = fields.Dict(allow_none=True, metadata={"description": SEALED_NOTE})


class EventList(Schema):
    events = fields.List(fields.Nested(EventItem), metadata={"description": "Newest first."})
    next = fields.String(
        allow_none=True, metadata={"description": "The next (older) page, or null at the end."}
    )


@bp.route("/audit/events", methods=["GET"])
@roles(Role.CHARITY_STAFF, Role.ADMIN, Role.CIVIL_AFFAIRS_OFFICER)
@operation(
    "Audit log events",
    tag="audit",
    description="The audit log's events, newest first, filtered by object, actor, action prefix and dates, "
    "paged by event id (follow `next`). Actors are given by role and organisation, never by name or e-mail. "
    "Charity staff and admins read every event; a civil-affairs officer reads only events about campaigns "
    "whose patient is registered in their jurisdiction, and about those campaigns' disbursements and reports.",
    query=EventQuery,
    responses={200: ("One page of events.", EventList)},
)
def audit_event_list() -> Any:
    query = load_query(EventQuery())
    since, until = day_range(query["since"], query["until"])
    filters = audit_events.EventFilter(
        object_type=query["object_type"],
        object_id=query["object_id"],
        actor_id=query["actor_id"],
        actor_role=query["actor_role"],
        action_prefix=query["action"],
        since=since,
        until=until,
    )
    page = audit_events.events(
        current_account(), filters, before=query["before"], limit=query["limit"], locale=locale_name()
    )
    following = None
    if page.next_before is not None:
        arguments = {
            key: value for key, value in query.items() if value not in (None, "") and key != "before"
        }
        following = url_for("api.audit_event_list", **arguments, before=page.next_before, _external=True)
    return EventList().dump(
        {
            "events": [
                {
                    "id": event.id,
                    "seq": event.seq,
                    "created_at": audit.instant_text(event.at),
                    "actor": {
                        "id": event.actor.id,
                        "role": event.actor.role,
                        "text": actor_text(event.actor),
                        "organisation_kind": event.actor.organisation_kind,
                        "organisation": event.actor.organisation,
                    },
                    "action": event.action,
                    "action_text": action_text(event.action),
                    "object_type": event.object_type,
                    "object_id": event.object_id,
                    "before": person_keys.json_fields(event.before),
                    "after": person_keys.json_fields(event.after),
                }
                for event in page.items
            ],
            "next": following,
        }
    )
