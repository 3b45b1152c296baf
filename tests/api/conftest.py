"""Fixtures for the API tests: bearer tokens, calls to /api/v1, and every response checked against the
OpenAPI document the API serves (tests/api/conformance.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fundraise.services.accounts import create_token
from tests.api.conformance import API_PREFIX, DocumentedResponses, conforming_client
from tests.api.helpers import bearer, forget_request_globals


@pytest.fixture
def documented_responses(app: Flask) -> DocumentedResponses:
    """What the API's own OpenAPI document promises, as served at /api/v1/openapi.json."""
    forget_request_globals()
    served = FlaskClient(app, app.response_class).get(API_PREFIX + "/openapi.json")
    assert served.status_code == 200
    return DocumentedResponses(served.get_json())


@pytest.fixture
def client(app: Flask, documented_responses: DocumentedResponses) -> FlaskClient:
    """The test client of every API test (and of `api` and `login`): a response under /api/v1 that the
    OpenAPI document does not promise fails the test where it was received."""
    return conforming_client(app, documented_responses)


@pytest.fixture
def token_for() -> Callable[[Any], str]:
    """token_for(user) makes an API token for the user and returns its plaintext."""

    def make(user: Any) -> str:
        _token, plaintext = create_token(user, "test")
        return plaintext

    return make


@pytest.fixture
def api(client: FlaskClient) -> Callable[..., Any]:
    """api(method, path, token=None, **kwargs): a request to /api/v1 with an optional bearer token."""

    def call(method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        forget_request_globals()
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers.update(bearer(token))
        return client.open(API_PREFIX + path, method=method, headers=headers, **kwargs)

    return call
