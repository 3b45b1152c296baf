"""Helpers and fixtures shared by the upload tests (test_uploads.py, test_upload_decoding.py,
test_upload_limits.py, test_upload_locks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from fundraise.extensions import db
from fundraise.models import Document
from fundraise.services.accounts import create_token
from tests.api.helpers import forget_request_globals
from tests.factories import UserFactory
from tests.web.test_filing import upload

LIMIT = 1024 * 1024


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"MAX_UPLOAD_BYTES": LIMIT}


@pytest.fixture
def family(app, login):
    user = UserFactory()
    db.session.commit()
    return login(user)


def stored(app, document: Document) -> bytes:
    return (Path(app.config["UPLOAD_DIR"]) / document.stored_name).read_bytes()


def api_client(app, user) -> Any:
    """A client without a session cookie, calling the API with a bearer token."""
    _token, plaintext = create_token(user, "test")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {plaintext}"
    return client


def api_upload(client, campaign_id: int, files: list[tuple[str, bytes, str]]) -> Any:
    """POST one or more (kind, bytes, name) files to the API, in the fields `kind` and `file`."""
    data = MultiDict(
        [("kind", files[0][0])] + [("file", upload(content, name)) for _kind, content, name in files]
    )
    forget_request_globals()
    return client.post(f"/api/v1/campaigns/{campaign_id}/documents", data=data)
