"""Every route has an access rule, and every route answers every role as its rule says (and never a 500)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from fundraise.extensions import db
from fundraise.models import CampaignReport, Role
from fundraise.services import accounts
from tests.factories import PASSWORD, CampaignFactory, DocumentFactory, user_of_role

ROLES = [None, *[role.value for role in Role]]


def _rules(app: Flask) -> list[Any]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def test_every_route_declares_an_access_rule(app: Flask) -> None:
    missing = [rule.rule for rule in _rules(app) if not hasattr(app.view_functions[rule.endpoint], "access")]
    assert missing == [], f"routes without @public/@signed_in/@roles: {missing}"


def _world() -> dict[str, Any]:
    """One of everything a URL can name: a public campaign with a photo and evidence, a report, a token."""
    campaign = CampaignFactory(state="fundraising")
    photo = DocumentFactory(campaign=campaign, kind="photo", content_type="image/png")
    DocumentFactory(campaign=campaign, kind="diagnosis")
    report = CampaignReport(campaign_id=campaign.id, reason="other", details="details of the report")
    db.session.add(report)
    db.session.commit()
    token, _plain = accounts.create_token(campaign.applicant, "walk")
    return {
        "campaign_id": campaign.id,
        "document_id": photo.id,
        "report_id": report.id,
        "token_id": token.id,
        "user_id": campaign.applicant_id,
        "step": "patient",
        "code": "en",
        "name": "close",
    }


def _url(rule: Any, values: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        return str(values.get(name, 1))

    return re.sub(r"<([^>]+)>", fill, rule.rule)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_walk_every_route_as_every_role(app: Flask, role: str | None) -> None:
    values = _world()
    client = app.test_client()
    if role is not None:
        user = user_of_role(role)
        db.session.commit()
        assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    failures = []
    for rule in _rules(app):
        kind, allowed = app.view_functions[rule.endpoint].access
        for method in sorted(rule.methods & {"GET", "POST", "PATCH", "PUT", "DELETE"}):
            if rule.endpoint == "auth.logout":
                continue  # would end this walk's session
            url = _url(rule, values)
            response = client.open(url, method=method, json={} if url.startswith("/api/") else None)
            status = response.status_code
            location = response.headers.get("Location", "")
            problem = None
            if status >= 500:
                problem = "server error"
            elif kind == "operators":
                # /metrics: its roles (or a bearer token) are answered, anyone else gets a plain 404.
                expected = 200 if role in allowed else 404
                problem = None if status == expected else f"expected {expected} for {role}, got {status}"
            elif kind == "roles" and role is None:
                if url.startswith("/api/"):
                    problem = None if status == 401 else f"expected 401, got {status}"
                elif not (status == 302 and "/login" in location):
                    problem = f"expected a login redirect, got {status} {location}"
            elif kind == "roles" and role not in allowed and status != 403:
                problem = f"expected 403 for {role}, got {status}"
            elif (kind == "public" or role in allowed) and (status in (401, 403) or "/login?" in location):
                problem = f"refused an allowed caller: {status} {location}"
            if problem:
                failures.append(f"{method} {url} ({rule.endpoint}): {problem}")
    assert failures == [], "\n".join(failures)
