"""Fixtures for the API tests: bearer tokens and calls to /api/v1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from fundraise.services.accounts import create_token
from tests.api.helpers import bearer, forget_request_globals


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
        return client.open("/api/v1" + path, method=method, headers=headers, **kwargs)

    return call
