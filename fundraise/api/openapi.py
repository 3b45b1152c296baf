"""The OpenAPI 3.1 document of API v1, generated from the routes and their marshmallow schemas.

Each API view carries an `@operation(...)` describing itself with the schema classes it actually uses; the
document is assembled by walking the app's URL map, so a route added without a description fails to build
(and the coverage test says which), and a description cannot outlive its route.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from fundraise.api import schemas

F = TypeVar("F", bound=Callable[..., Any])
API_PREFIX = "/api/v1"
SchemaClass = type[Schema]

DESCRIPTION = """\
The Aidbridge API: public campaigns and reference data for anyone; filing campaigns for families and hospital
social workers; state changes for those the campaign rules allow.

**Authentication.** Integrations send `Authorization: Bearer <token>` with a per-account API token (made on
the account page, shown once). A browser signed in to Aidbridge may use its session cookie instead; a mutating
request authenticated by the session must also send the page's CSRF token in `X-CSRFToken`.

**Money** is always an integer number of fen (1 yuan = 100 fen), in requests and responses; each amount in a
response is accompanied by a formatted yuan string (`target_fen: 15000000`, `target_yuan: "¥150,000"`).
Decimals and strings are refused.

**Errors** are RFC 9457 problem documents (`application/problem+json`) with `type`, `title`, `status`,
`detail` and, for validation errors (422), `errors`: messages by field name. Malformed JSON is 400, a body
that is not JSON 415, unknown fields 422. Each operation lists the statuses it answers with; besides those,
a path that matches no operation (including an id beyond the documented range) is 404, and a method that a
path does not have is 405, both as problem documents.

**Retries.** An operation that takes an `Idempotency-Key` header answers a repeated key with what the first
request made, so a client may retry after a lost answer without doing the thing twice.

**Responses** carry every property their schema lists, except those a schema marks as only for some callers
(the `private` parts).
"""

# Components named in the document, in the order they are listed.
COMPONENTS: dict[str, SchemaClass] = {
    "Problem": schemas.Problem,
    "Region": schemas.RegionSchema,
    "Hospital": schemas.HospitalSchema,
    "Disease": schemas.DiseaseSchema,
    "RegionList": schemas.RegionList,
    "HospitalList": schemas.HospitalList,
    "DiseaseList": schemas.DiseaseList,
    "Photo": schemas.PhotoSchema,
    "Document": schemas.DocumentSchema,
    "CampaignSummary": schemas.CampaignSummary,
    "CampaignPage": schemas.CampaignPage,
    "CampaignPrivate": schemas.CampaignPrivate,
    "CampaignDetail": schemas.CampaignDetail,
    "CampaignInput": schemas.CampaignInput,
    "CampaignCreate": schemas.CampaignCreate,
    "DocumentUpload": schemas.DocumentUpload,
    "TransitionInput": schemas.TransitionInput,
    "Me": schemas.Me,
}

STANDARD_PROBLEMS = {
    400: "Malformed or too deeply nested JSON, text holding control characters, or (session callers) a "
    "missing or invalid CSRF token.",
    401: "Not signed in: no valid bearer token and no session.",
    403: "Signed in, but this role may not do this.",
    404: "No such campaign, or not one the caller may see.",
    413: "The request body is too large.",
    415: "The body is not of the media type this operation takes.",
    422: "Validation failed; `errors` gives messages by field.",
}


@dataclass(frozen=True)
class Operation:
    """How one view describes itself in the document."""

    summary: str
    tag: str
    # status -> (description, schema of the JSON body: a marshmallow class, a plain JSON Schema, or None)
    responses: dict[int, tuple[str, SchemaClass | dict[str, Any] | None]]
    description: str = ""
    # The media type of the success responses' bodies (a CSV export says text/csv, its schema a string).
    response_media: str = "application/json"
    query: SchemaClass | None = None
    body: SchemaClass | None = None
    body_media: str = "application/json"
    body_required: bool = True
    # status -> description of a problem document, or (description, a problem schema with extension members)
    problems: dict[int, str | tuple[str, SchemaClass]] = field(default_factory=dict)
    path_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    # header name -> its parameter object without `in` and `name` (e.g. the Idempotency-Key a request needs)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


def operation(summary: str, **details: Any) -> Callable[[F], F]:
    """Describe an API view for the OpenAPI document (see Operation for the details it takes)."""
    described = Operation(summary=summary, **details)

    def decorate(view: F) -> F:
        view.openapi = described  # type: ignore[attr-defined]  # a function attribute, read by the document builder
        return view

    return decorate


class UndocumentedRoute(RuntimeError):
    """An /api/v1 route whose view has no @operation."""


_ARGUMENT = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
_CONVERTER_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}}


def openapi_path(rule: str) -> str:
    """`/api/v1/campaigns/<int:campaign_id>` -> `/api/v1/campaigns/{campaign_id}`."""
    return _ARGUMENT.sub(lambda match: "{" + match.group("name") + "}", rule)


def api_rules(app: Flask) -> list[Any]:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith(API_PREFIX + "/")),
        key=lambda rule: rule.rule,
    )


def build_document(app: Flask) -> dict[str, Any]:
    """The whole OpenAPI document for this app's API routes."""
    marshmallow_plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Aidbridge API",
        version="1",
        openapi_version="3.1.0",
        plugins=[marshmallow_plugin],
        info={"description": DESCRIPTION},
    )
    spec.components.security_scheme(
        "bearerToken",
        {"type": "http", "scheme": "bearer", "description": "A per-account API token (`ab_…`)."},
    )
    spec.components.security_scheme(
        "browserSession",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": app.config.get("SESSION_COOKIE_NAME", "session"),
            "description": "The signed-in browser session; mutating requests also need `X-CSRFToken`.",
        },
    )
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)

    paths: dict[str, dict[str, Any]] = {}
    parameters: dict[str, list[dict[str, Any]]] = {}
    for rule in api_rules(app):
        view = app.view_functions[rule.endpoint]
        described: Operation | None = getattr(view, "openapi", None)
        if described is None:
            raise UndocumentedRoute(f"{rule.rule} ({rule.endpoint}) has no @operation")
        path = openapi_path(rule.rule)
        parameters[path] = _path_parameters(rule, described)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, view, described, method)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations, parameters=parameters[path] or None)
    document = spec.to_dict()
    # Each component's marshmallow class, including those apispec named on its own for nested schemas.
    assert marshmallow_plugin.converter is not None
    classes = {name: key[0] for key, name in marshmallow_plugin.converter.refs.items()}
    _require_response_properties(document, classes)
    return document


def _require_response_properties(document: dict[str, Any], classes: dict[str, SchemaClass]) -> None:
    """Mark every property of a response schema as required, except the schema's OPTIONAL_IN_RESPONSE.

    marshmallow's `required` is about loading, so apispec leaves response schemas without a `required`
    list, which would let `{}` pass for any response. A response dumps every field it declares; a schema
    whose field is present only for some callers names it in OPTIONAL_IN_RESPONSE. Schemas that requests
    use (bodies) keep their loading rules.
    """
    components = document["components"]["schemas"]
    in_requests = _components_reached(
        [
            operation.get("requestBody", {})
            for item in document["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict)
        ],
        components,
    )
    for name, component in components.items():
        if name in in_requests or "properties" not in component:
            continue
        optional = set(getattr(classes.get(name), "OPTIONAL_IN_RESPONSE", ()))
        component["required"] = sorted(set(component["properties"]) - optional)


def _components_reached(roots: list[Any], components: dict[str, Any]) -> set[str]:
    """Names of the component schemas referenced from these parts of the document, directly or not."""
    reached: set[str] = set()
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.removeprefix("#/components/schemas/")
                if name not in reached:
                    reached.add(name)
                    pending.append(components[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return reached


def _path_parameters(rule: Any, described: Operation) -> list[dict[str, Any]]:
    """The rule's path arguments, with the range its converter accepts: a value outside it is a 404."""
    found = []
    converters = getattr(rule, "_converters", {})  # werkzeug keeps each argument's converter here
    for match in _ARGUMENT.finditer(rule.rule):
        name = match.group("name")
        schema = dict(_CONVERTER_TYPES.get(match.group("converter") or "", {"type": "string"}))
        converter = converters.get(name)
        if schema.get("type") == "integer" and converter is not None:
            minimum = getattr(converter, "min", None)
            if minimum is None and not getattr(converter, "signed", True):
                minimum = 0
            maximum = getattr(converter, "max", None)
            if minimum is not None:
                schema["minimum"] = minimum
            if maximum is not None:
                schema["maximum"] = maximum
        schema.update(described.path_parameters.get(name, {}))
        found.append({"in": "path", "name": name, "required": True, "schema": schema})
    return found


def _operation(rule: Any, view: Any, described: Operation, method: str) -> dict[str, Any]:
    kind, roles = getattr(view, "access", ("public", frozenset()))
    problems: dict[int, str | tuple[str, SchemaClass]] = {}
    if kind == "roles":
        problems[401] = STANDARD_PROBLEMS[401]
        problems[403] = STANDARD_PROBLEMS[403]
    if "campaign_id" in rule.arguments:
        problems[404] = STANDARD_PROBLEMS[404]
    if method != "GET":
        # Whatever the operation takes, a body sent with it is read (if only to refuse control characters).
        problems[400] = STANDARD_PROBLEMS[400]
        problems[413] = STANDARD_PROBLEMS[413]
    if described.body is not None:
        problems[415] = STANDARD_PROBLEMS[415]
        problems[422] = STANDARD_PROBLEMS[422]
    if described.query is not None:
        problems[422] = STANDARD_PROBLEMS[422]
    problems.update(described.problems)

    responses: dict[str, Any] = {}
    for status, (text, schema) in sorted(described.responses.items()):
        response: dict[str, Any] = {"description": text}
        if schema is not None:
            response["content"] = {described.response_media: {"schema": schema}}
        responses[str(status)] = response
    for status, problem in sorted(problems.items()):
        text, problem_schema = problem if isinstance(problem, tuple) else (problem, "Problem")
        responses[str(status)] = {
            "description": text,
            "content": {"application/problem+json": {"schema": problem_schema}},
        }

    document: dict[str, Any] = {
        "operationId": rule.endpoint.split(".", 1)[-1],
        "summary": described.summary,
        "tags": [described.tag],
        "responses": responses,
    }
    description = described.description
    if kind == "roles":
        allowed = ", ".join(sorted(roles))
        description = f"{description}\n\nRoles: {allowed}.".strip()
        document["security"] = [{"bearerToken": []}, {"browserSession": []}]
        document["x-roles"] = sorted(roles)
    else:
        document["security"] = [{}]  # public: anyone, with or without credentials
    if description:
        document["description"] = description
    parameters: list[dict[str, Any]] = []
    if described.query is not None:
        parameters.append({"in": "query", "schema": described.query})
    parameters.extend({"in": "header", "name": name, **spec} for name, spec in described.headers.items())
    if parameters:
        document["parameters"] = parameters
    if described.body is not None:
        document["requestBody"] = {
            "required": described.body_required,
            "content": {described.body_media: {"schema": described.body}},
        }
    return document
