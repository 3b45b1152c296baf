"""The API's request and response plumbing shared by its view modules: reading and validating a request's
JSON body or query string (415/400/422 as problem documents) and the links of a paged list."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import BadRequest

from fundraise.errors import DomainError, ValidationFailed


class MalformedRequest(DomainError):
    status = 400


class UnsupportedMediaType(DomainError):
    status = 415


def invalid(error: ValidationError) -> ValidationFailed:
    """A schema's refusal as the 422 the API answers, with the messages by field."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return ValidationFailed(_("Please correct the marked fields."), fields=messages)


def load_json(schema: Schema, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON body, validated: 415 if it is not JSON, 400 if malformed, 422 if invalid."""
    if optional and not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise UnsupportedMediaType(_("Send the body as application/json."))
    try:
        payload = request.get_json()
    except BadRequest as error:
        raise MalformedRequest(_("The request body is not valid JSON.")) from error
    try:
        return dict(schema.load(payload))
    except ValidationError as error:
        raise invalid(error) from error


def load_query(schema: Schema) -> dict[str, Any]:
    """The request's query string, validated: 422 if invalid."""
    try:
        return dict(schema.load(request.args.to_dict()))
    except ValidationError as error:
        raise invalid(error) from error


def page_links(endpoint: str, page: int, per_page: int, total: int, **values: Any) -> dict[str, Any]:
    """The numbers of one page of a list and absolute links to the pages before and after it (None at
    either end); `values` are the endpoint's other arguments (filters, the campaign id)."""

    def link(number: int) -> str:
        return url_for(endpoint, _external=True, **values, page=number, per_page=per_page)

    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "next": link(page + 1) if page * per_page < total else None,
        "prev": link(page - 1) if page > 1 else None,
    }
