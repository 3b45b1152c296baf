"""Every API response the tests see is checked against the OpenAPI document the API serves.

`DocumentedResponses(document).check(method, path, response)` finds the operation for the request (path
templates resolved, the longest literal match first), asserts that the status is one the operation lists,
that the media type is one documented for that status, and validates a JSON body against the documented
schema with JSON Schema 2020-12 (the dialect of OpenAPI 3.1), following the document's `$ref`s.

Two statuses have no operation to list them and are documented here, centrally, as problem documents:
404 for a path that matches no operation, and 405 for a method the path does not have. Every other status,
401, 403, 404, 413, 415, 422 and 429 included, must be listed by the operation itself
(fundraise.api.openapi adds the standard ones).
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from fundraise.api.openapi import API_PREFIX
from tests.api.helpers import forget_request_globals

DOCUMENT_URI = "urn:aidbridge:openapi"
PROBLEM_MEDIA = "application/problem+json"
# Statuses the document cannot list on an operation, because no operation matched the request.
UNROUTED = {404: "no operation has this path", 405: "the path has no operation for this method"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# jsonschema checks `date-time` only with an optional package installed; the rule is short enough to state
# here: RFC 3339, so a timestamp always carries its offset (a naive one would be read in the reader's zone).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
FORMATS: FormatChecker = deepcopy(Draft202012Validator.FORMAT_CHECKER)


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats apply to strings only
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a real day and time
    return True


class ResponseMismatch(AssertionError):
    """A response that does not match what the OpenAPI document promises."""


@dataclass(frozen=True)
class Matched:
    template: str | None
    operation: dict[str, Any] | None
    pointer: str  # JSON pointer of the operation's `responses`, when there is one


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class DocumentedResponses:
    """The responses an OpenAPI 3.1 document promises, and a check of real responses against them."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    @cached_property
    def _templates(self) -> list[tuple[re.Pattern[str], str]]:
        def pattern(template: str) -> re.Pattern[str]:
            parts = re.split(r"(\{[^}]+\})", template)
            return re.compile(
                "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + r"\Z"
            )

        # Literal paths win over templated ones (`/me/donations` before a `/me/{x}`, were there one).
        ordered = sorted(self.document["paths"], key=lambda t: (t.count("{"), -len(t)))
        return [(pattern(template), template) for template in ordered]

    def match(self, method: str, path: str) -> Matched:
        for pattern, template in self._templates:
            if pattern.match(path):
                item = self.document["paths"][template]
                operation = item.get(method.lower())
                pointer = f"#/paths/{_escape(template)}/{method.lower()}/responses"
                return Matched(template, operation, pointer)
        return Matched(None, None, "")

    def validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            self._validators[pointer] = Draft202012Validator(
                {"$ref": DOCUMENT_URI + pointer},
                registry=self.registry,
                format_checker=FORMATS,
            )
        return self._validators[pointer]

    def check(self, method: str, path: str, response: Any) -> None:
        """Raise ResponseMismatch unless the response is one the document promises for this request."""
        where = f"{method.upper()} {path} -> {response.status_code} {response.mimetype}"
        status = response.status_code
        matched = self.match(method, path)
        if matched.operation is None:
            expected = 404 if matched.template is None else 405
            if status != expected:
                raise ResponseMismatch(f"{where}: {UNROUTED[expected]}, so only {expected} may answer")
            self._check_body(where, response, "#/components/schemas/Problem", PROBLEM_MEDIA)
            return

        responses = matched.operation["responses"]
        key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        if key not in responses:
            key = "default"
        if key not in responses:
            raise ResponseMismatch(
                f"{where}: status not documented for {method.upper()} {matched.template} "
                f"(documented: {', '.join(sorted(responses))})"
            )
        documented = responses[key]
        if "$ref" in documented:
            raise ResponseMismatch(f"{where}: response $refs are not supported by this check")
        content = documented.get("content", {})
        if not content:
            if response.get_data():
                raise ResponseMismatch(f"{where}: documented without a body, but one was sent")
            return
        media = response.mimetype
        if media not in content:
            raise ResponseMismatch(f"{where}: media type not documented (documented: {', '.join(content)})")
        if "schema" in content[media]:
            pointer = f"{matched.pointer}/{_escape(key)}/content/{_escape(media)}/schema"
            self._check_body(where, response, pointer, media)

    def _check_body(self, where: str, response: Any, pointer: str, media: str) -> None:
        if response.mimetype != media:
            raise ResponseMismatch(f"{where}: expected {media}")
        if not response.is_json:
            return
        body = response.get_json(silent=True)
        if body is None and response.get_data().strip() != b"null":
            raise ResponseMismatch(f"{where}: the body is not JSON")
        error = best_match(self.validator(pointer).iter_errors(body))
        if error is not None:
            location = "/".join(str(part) for part in error.absolute_path) or "(the body)"
            raise ResponseMismatch(
                f"{where}: the body does not match {pointer}: at {location}: {error.message}"
            )


class ConformingClient(FlaskClient):
    """A test client that fails the test on any /api/v1 response the OpenAPI document does not promise: a
    status the operation does not list, an undocumented media type, or a JSON body off its schema.

    Like the suite's FreshGlobalsClient, each request starts with an empty `g`: the tests keep one app
    context open, and Flask-Login's cached user would otherwise leak from one request into the next.
    """

    documented: DocumentedResponses

    def open(self, *args: Any, **kwargs: Any) -> Any:
        forget_request_globals()
        response = super().open(*args, **kwargs)
        request = response.request
        if request.path.startswith(API_PREFIX + "/") and request.method not in ("HEAD", "OPTIONS"):
            self.documented.check(request.method, request.path, response)
        return response


def conforming_client(app: Any, documented: DocumentedResponses) -> ConformingClient:
    client = ConformingClient(app, app.response_class, use_cookies=True)
    client.documented = documented
    return client
