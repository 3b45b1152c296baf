"""The OpenAPI document is generated from the routes and schemas, and covers exactly the routes there are."""

from __future__ import annotations

from typing import Any

from fundraise.api.openapi import api_rules, openapi_path
from fundraise.request_limits import MAX_ID

METHODS = {"get", "post", "put", "patch", "delete"}


def _document(api: Any) -> dict[str, Any]:
    response = api("GET", "/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_public_openapi_3_1(api):
    document = _document(api)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Aidbridge API"
    assert {"bearerToken", "browserSession"} <= set(document["components"]["securitySchemes"])


def test_every_api_route_is_documented_and_nothing_else(app, api):
    document = _document(api)
    routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in api_rules(app)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item if method in METHODS
    }
    assert routes, "no /api/v1 routes found"
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations with no route"


def test_operations_state_their_access_and_problems(app, api):
    document = _document(api)
    for rule in api_rules(app):
        kind, roles = app.view_functions[rule.endpoint].access
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][openapi_path(rule.rule)][method.lower()]
            if kind == "roles":
                assert operation["security"] == [{"bearerToken": []}, {"browserSession": []}]
                assert set(operation["x-roles"]) == set(roles)
                assert {"401", "403"} <= set(operation["responses"])
            else:
                assert operation["security"] == [{}]


def test_every_reference_resolves(api):
    document = _document(api)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in refs(value)]
        return []

    for ref in refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], ref


def test_schemas_document_money_and_input_rules(api):
    schemas = _document(api)["components"]["schemas"]
    money = schemas["CampaignInput"]["properties"]["target_fen"]
    assert money["type"] == "integer"
    assert money["minimum"] == 0
    assert schemas["CampaignInput"]["additionalProperties"] is False  # unknown fields are refused
    assert schemas["CampaignDetail"]["properties"]["target_yuan"]["type"] == "string"
    assert "private" in schemas["CampaignDetail"]["properties"]
    assert "household_income_fen" in schemas["CampaignPrivate"]["properties"]
    assert "household_income_fen" not in schemas["CampaignDetail"]["properties"]


def test_id_parameters_state_the_range_a_route_accepts(app, api):
    """Ids are whole numbers from 0; any bound the routes put on them is in the document, and lets every id
    a database row can have through."""
    document = _document(api)
    ids = [
        parameter
        for item in document["paths"].values()
        for parameter in item.get("parameters", [])
        if parameter["name"] in ("campaign_id", "batch_id")
    ]
    assert ids
    for parameter in ids:
        schema = parameter["schema"]
        assert schema["type"] == "integer"
        assert schema["minimum"] == 0
        assert schema.get("maximum", MAX_ID) >= MAX_ID


def test_problem_documents_and_refused_feeds_are_documented(api):
    document = _document(api)
    imports = document["paths"]["/api/v1/records/imports"]["post"]["responses"]
    refused = imports["422"]["content"]["application/problem+json"]["schema"]
    assert refused == {"$ref": "#/components/schemas/ImportRefused"}
    assert {"batch_id", "row_errors"} <= set(document["components"]["schemas"]["ImportRefused"]["properties"])
    batch = document["components"]["schemas"]["ImportBatch"]
    assert batch["properties"]["errors"]["type"] == "array"
    assert "errors" in batch["required"]
