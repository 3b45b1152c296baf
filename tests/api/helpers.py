"""Helpers for the API tests: small valid files, bearer headers and problem-document checks."""

from __future__ import annotations

import io
from typing import Any

from flask import g
from PIL import Image

# The smallest file the upload checks accept as a complete PDF.
PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def forget_request_globals() -> None:
    """The tests' app context outlives each request, and with it `g`, where Flask-Login keeps the user it
    loaded and Flask-WTF the session's CSRF token: forget them, so each request starts as in production."""
    for name in list(g):
        g.pop(name)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """The response is a problem document with this status and (for 422) errors on these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    for field in fields:
        assert field in body.get("errors", {}), body
    return body
