"""The check every API test runs on its responses (tests/api/conformance.py) has teeth: it refuses what the
OpenAPI document does not promise, and the document it checks against is a sound JSON Schema 2020-12."""

from __future__ import annotations

import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from tests.api.conformance import ConformingClient, DocumentedResponses, ResponseMismatch


def _response(app: Flask, body: object, status: int, mimetype: str = "application/json"):
    return app.response_class(
        app.json.dumps(body) if body is not None else "", status=status, mimetype=mimetype
    )


def test_every_api_test_client_checks_its_responses(client):
    assert isinstance(client, ConformingClient)


def test_every_component_is_a_valid_2020_12_schema(documented_responses):
    for schema in documented_responses.document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the fault


def test_response_schemas_require_what_they_list(documented_responses):
    schemas = documented_responses.document["components"]["schemas"]
    assert "errors" in schemas["ImportBatch"]["required"]
    assert "patient_name" in schemas["CampaignSummary"]["required"]
    assert "private" not in schemas["CampaignDetail"]["required"]
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status"}
    assert "required" not in schemas["CampaignInput"]  # a request body keeps its own rules


def test_it_refuses_a_body_off_its_schema(app, documented_responses: DocumentedResponses):
    batch = {
        "id": 1,
        "kind": "civil_affairs",
        "status": "imported",
        "source_name": "feed.csv",
        "file_format": "csv",
        "file_sha256": "0" * 64,
        "rows_total": 1,
        "rows_inserted": 1,
        "rows_updated": 0,
        "rows_unchanged": 0,
        "rows_rejected": 0,
        "started_at": "2026-12-02T14:57:01.760829+00:00",
        "finished_at": "2026-12-02T14:57:01Z",
        "errors": [],
    }
    documented_responses.check("GET", "/api/v1/records/imports/1", _response(app, batch, 200))
    with pytest.raises(ResponseMismatch, match="at errors: None is not of type 'array'"):
        documented_responses.check(
            "GET", "/api/v1/records/imports/1", _response(app, batch | {"errors": None}, 200)
        )
    naive = batch | {"started_at": "2026-12-02T14:57:01.760829"}  # no offset: whose 14:57?
    with pytest.raises(ResponseMismatch, match="is not a 'date-time'"):
        documented_responses.check("GET", "/api/v1/records/imports/1", _response(app, naive, 200))


def test_it_refuses_a_status_the_operation_does_not_list(app, documented_responses):
    problem = {"type": "about:blank", "title": "Conflict", "status": 409}
    with pytest.raises(ResponseMismatch, match="status not documented"):
        documented_responses.check(
            "GET", "/api/v1/reference/regions", _response(app, problem, 409, "application/problem+json")
        )


def test_it_refuses_an_undocumented_media_type(app, documented_responses):
    problem = {"type": "about:blank", "title": "Not Found", "status": 404}
    with pytest.raises(ResponseMismatch, match="media type"):
        documented_responses.check("GET", "/api/v1/campaigns/1", _response(app, problem, 404))


def test_no_operation_means_404_and_no_method_405(app, documented_responses):
    not_found = {"type": "about:blank", "title": "Not Found", "status": 404}
    documented_responses.check(
        "GET", "/api/v1/nothing/here", _response(app, not_found, 404, "application/problem+json")
    )
    with pytest.raises(ResponseMismatch, match="only 404"):
        documented_responses.check("GET", "/api/v1/nothing/here", _response(app, {}, 200))
    not_allowed = {"type": "about:blank", "title": "Method Not Allowed", "status": 405}
    documented_responses.check(
        "DELETE", "/api/v1/campaigns", _response(app, not_allowed, 405, "application/problem+json")
    )


def test_the_real_404_and_405_are_problem_documents(api):
    assert api("GET", "/nothing/here").status_code == 404
    assert api("DELETE", "/campaigns").status_code == 405
