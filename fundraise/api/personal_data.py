"""API v1 for the person's own data (PIPL arts. 45 and 47): the archive of everything held about the caller,
and a request to delete it. The rules are fundraise.services.personal_data's and .deletion's."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, stream_with_context
from marshmallow import Schema, fields, validate

from fundraise.access import current_account, signed_in
from fundraise.api.common import load_json
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.services import deletion, personal_data

TAG = "personal data"


class DeletionRequestBody(Schema):
    """The caller's password, to confirm the request."""

    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class DeletionOutcomeItem(Schema):
    """One kind of the caller's data and what happens to it (codes; `until` and `basis` for what is kept)."""

    OPTIONAL_IN_RESPONSE = ("until", "basis", "campaign_id")

    kind = fields.String()
    outcome = fields.String(validate=validate.OneOf([deletion.ERASED, deletion.RETAINED]))
    count = fields.Integer()
    until = fields.String(metadata={"format": "date"})
    basis = fields.String(metadata={"description": "A legal basis code of the retention table."})
    campaign_id = fields.Integer()


class DeletionRequestState(Schema):
    """A deletion request: `received` (waiting for an open campaign to end), `done` or `partly_done`."""

    id = fields.Integer()
    state = fields.String(validate=validate.OneOf(["received", "done", "partly_done"]))
    waiting_code = fields.String(allow_none=True)
    requested_at = fields.DateTime()
    carried_out_at = fields.DateTime(allow_none=True)
    remainder_due_on = fields.Date(allow_none=True)
    outcome = fields.List(fields.Nested(DeletionOutcomeItem))


@bp.route("/me/data", methods=["GET"])
@signed_in
@operation(
    "Download everything held about me",
    tag=TAG,
    description="A ZIP archive (application/zip, streamed) of JSON files and the files uploaded to the caller's "
    "campaigns. The download is audited, and so is each full ID number it shows.",
    responses={200: ("The archive.", {"type": "string", "contentMediaType": "application/zip"})},
    response_media="application/zip",
)
def my_data_archive() -> Any:
    export = personal_data.start_export(current_account())
    return Response(
        stream_with_context(personal_data.archive_chunks(export)),
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="aidbridge-my-data-{export.user_id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/me/deletion-requests", methods=["POST"])
@signed_in
@operation(
    "Ask for my data to be deleted",
    tag=TAG,
    description="Erases at once what the law lets go and keeps the rest until its retention ends; waits "
    "(state `received`) while one of the caller's campaigns is open or holds money. Staff accounts are "
    "refused (403): an administrator deactivates them. The account is closed when the request is carried out.",
    body=DeletionRequestBody,
    responses={201: ("The request and its outcome.", DeletionRequestState)},
    problems={
        403: "A staff account.",
        422: "The password is wrong.",
        429: "Too many wrong passwords: the account is locked for a while; Retry-After says how long.",
    },
)
def request_deletion() -> Any:
    body = load_json(DeletionRequestBody())
    made = deletion.request_deletion(current_account(), body["password"])
    response = jsonify(DeletionRequestState().dump(made))
    response.status_code = 201
    return response
