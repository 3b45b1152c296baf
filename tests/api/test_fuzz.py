"""The API under fuzzing: schemathesis generates requests from the OpenAPI document, and every answer must
be one the document promises (never a 5xx); plus explicit probes with input no person would send.

The fuzzing is bounded and deterministic: a fixed number of examples per operation, caller and mode,
derandomized (the same requests on every run, no example database), without shrinking. Every request also
goes through the suite's ConformingClient, so the document is checked by two independent validators.
Failures are collected over all operations and reported together, each with a curl command to replay it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fundraise.api.openapi import API_PREFIX
from fundraise.extensions import db
from fundraise.models import Campaign, User
from fundraise.pagination import MAX_PAGE
from tests.api.conformance import DocumentedResponses, conforming_client
from tests.api.helpers import PDF_BYTES, assert_problem, bearer
from tests.factories import CampaignFactory, UserFactory
from tests.verification.records import civil_affairs_row, critical_illness_row, enrolment_row, to_csv

# Examples per operation, caller, mode and campaign id: enough to reach every parameter and field a few
# times, few enough that the whole file runs in about half a minute on SQLite.
EXAMPLES = 10
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is collected and reported as sent
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.large_base_example],
)
# With one integer parameter held at a huge value, the rest of each request is still generated.
HUGE_SETTINGS = settings(FUZZ_SETTINGS, max_examples=2)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Ids past what a database integer holds (2**31 - 1 for PostgreSQL `integer`, 2**63 - 1 for `bigint`), up to
# the ones seen in the wild; each must be a plain 404, never an overflow in the driver.
HUGE_IDS = (
    2**31,
    9_999_999_999,
    2**63,
    99_999_999_999_999_999_999,
    158_373_425_249_293_508_280_320,
    int("9" * 400),
)
HUGE_PAGES = (str(2**31), str(2**63 - 1), str(2**63), "9" * 40, "9" * 5000)
FIVE_THOUSAND_DIGITS = "9" * 5000


@pytest.fixture
def seeded(app: Flask) -> dict[str, Any]:
    """A public campaign taking donations and a family with a draft of its own, for the fuzzer to reach."""
    public = CampaignFactory(state="fundraising", with_evidence=True, target_fen=1_000_000)
    family = UserFactory()
    draft = CampaignFactory(applicant=family)
    admin = UserFactory(admin=True)
    db.session.commit()
    return {"public": public, "family": family, "draft": draft, "admin": admin}


@pytest.fixture
def api_schema(app: Flask) -> Any:
    """The API's OpenAPI document as schemathesis loads it, through the app's WSGI interface."""
    return schemathesis.openapi.from_wsgi(API_PREFIX + "/openapi.json", app)


def _fuzz(
    app: Flask,
    api_schema: Any,
    documented: DocumentedResponses,
    mode: GenerationMode,
    headers: dict[str, str],
    campaign_ids: list[int],
) -> list[str]:
    """Run every operation of the document; the failures found, one line (and a replay command) each."""
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        inputs = {parameter.name for parameter in operation.iter_parameters()}
        fixed_ids: list[int | None] = [None]
        if "{campaign_id}" in operation.path:
            fixed_ids += campaign_ids  # ids that exist, so the fuzzer gets past the 404
        for campaign_id in fixed_ids:
            left = inputs - ({"campaign_id"} if campaign_id is not None else set())
            if mode == GenerationMode.NEGATIVE and not (left or operation.body):
                continue  # nothing left to make invalid
            fixed = None if campaign_id is None else {"campaign_id": campaign_id}
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            _run(app, documented, operation.label, strategy, headers, failures)
    return [f"{key}\n    {command}" for key, command in failures.items()]


def _fuzz_huge_integers(
    app: Flask, api_schema: Any, documented: DocumentedResponses, headers: dict[str, str]
) -> list[str]:
    """Every integer parameter of the document (ids in paths, pages in queries), held in turn at each huge
    value while the rest of the request is generated: a 404 or a 422, never an overflow."""
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for parameter in operation.iter_parameters():
            if parameter.definition.get("schema", {}).get("type") != "integer":
                continue
            location = str(parameter.location.value)
            for huge in (*HUGE_IDS, int(HUGE_PAGES[-2])):
                fixed = {parameter.name: huge}
                strategy = operation.as_strategy(
                    path_parameters=fixed if location == "path" else None,
                    query=fixed if location == "query" else None,
                )
                label = f"{operation.label} with {parameter.name}={str(huge)[:12]}… ({len(str(huge))} digits)"
                _run(app, documented, label, strategy, headers, failures, HUGE_SETTINGS)
    return [f"{key}\n    {command}" for key, command in failures.items()]


def _run(
    app: Flask,
    documented: DocumentedResponses,
    label: str,
    strategy: Any,
    headers: dict[str, str],
    failures: dict[str, str],
    limits: settings = FUZZ_SETTINGS,
) -> None:
    """Send the strategy's cases; each kind of failure is kept once, with the first case that showed it."""

    @limits
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = case.call(headers=headers, session=conforming_client(app, documented))
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as error:  # every failure is collected, and all are reported
            db.session.rollback()  # as the request's teardown would, so one failure does not cause the next
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            key = f"{label}: {type(error).__name__}: {first_line[:300]}"
            failures.setdefault(key, case.as_curl_command(headers=headers))

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("caller", ["anonymous", "family"])
def test_fuzzing_the_document_finds_no_5xx_and_no_undocumented_answer(
    app: Flask,
    api_schema: Any,
    documented_responses: DocumentedResponses,
    seeded: dict[str, Any],
    token_for: Callable[[User], str],
    caller: str,
    mode: GenerationMode,
) -> None:
    headers = bearer(token_for(seeded["family"])) if caller == "family" else {}
    campaign_ids = [seeded["public"].id, seeded["draft"].id]

    failures = _fuzz(app, api_schema, documented_responses, mode, headers, campaign_ids)

    assert not failures, f"{len(failures)} kinds of failure:\n" + "\n".join(failures)


@pytest.mark.parametrize("caller", ["anonymous", "family"])
def test_fuzzing_with_huge_ids_and_pages_finds_no_5xx(
    app: Flask,
    api_schema: Any,
    documented_responses: DocumentedResponses,
    seeded: dict[str, Any],
    token_for: Callable[[User], str],
    caller: str,
) -> None:
    headers = bearer(token_for(seeded["family"])) if caller == "family" else {}

    failures = _fuzz_huge_integers(app, api_schema, documented_responses, headers)

    assert not failures, f"{len(failures)} kinds of failure:\n" + "\n".join(failures)


# --- explicit probes -------------------------------------------------------------------------------------


def _id_routes() -> Iterator[tuple[str, str, Callable[[], dict[str, Any]]]]:
    """(method, path with {id}, request arguments) of every API route that takes an id, each with input the
    view would accept, so nothing but the id stands between the request and the database."""

    def upload() -> dict[str, Any]:
        document = {"kind": "diagnosis", "file": (io.BytesIO(PDF_BYTES), "diagnosis.pdf")}
        return {"data": document, "content_type": "multipart/form-data"}

    yield "GET", "/campaigns/{id}", dict
    yield "PATCH", "/campaigns/{id}", lambda: {"json": {"title": "请帮助小明"}}
    yield "POST", "/campaigns/{id}/documents", upload
    yield "GET", "/campaigns/{id}/donations", dict
    yield (
        "POST",
        "/campaigns/{id}/donations",
        lambda: {"json": {"amount_fen": 5_000, "email": "a@example.cn"}},
    )
    yield "GET", "/campaigns/{id}/ledger", dict
    yield "POST", "/campaigns/{id}/submit", dict
    yield "POST", "/campaigns/{id}/transitions/cancel", lambda: {"json": {"reason": "不再需要"}}
    yield "GET", "/campaigns/{id}/verification", dict
    yield "GET", "/records/imports/{id}", dict


@pytest.mark.parametrize("huge", HUGE_IDS, ids=lambda n: f"{len(str(n))}-digits")
def test_ids_beyond_the_database_integer_are_404_on_every_route(api, seeded, token_for, huge):
    family = token_for(seeded["family"])
    admin = token_for(seeded["admin"])
    for method, template, arguments in _id_routes():
        token = admin if template.startswith("/records/") else family
        path = template.replace("{id}", str(huge))
        assert_problem(api(method, path, token=token, **arguments()), 404)
        # Without credentials: a 404 as well, or the 401 of a route for signed-in callers.
        anonymous = api(method, path, **arguments())
        assert anonymous.status_code in (401, 404)
        assert_problem(anonymous, anonymous.status_code)


def test_huge_ids_outside_the_api_prefix_are_404_too(client):
    """The public campaign page as first reported: /campaigns/99999999999999999999."""
    for huge in HUGE_IDS:
        assert client.get(f"/campaigns/{huge}").status_code == 404


def _paged_routes(campaign: Campaign) -> list[str]:
    return [
        "/campaigns",
        f"/campaigns/{campaign.id}/donations",
        f"/campaigns/{campaign.id}/ledger",
        "/me/donations",
    ]


@pytest.mark.parametrize("page", HUGE_PAGES, ids=lambda p: f"{len(p)}-digits")
def test_huge_page_numbers_are_422_on_every_paged_route(api, seeded, token_for, page):
    family = token_for(seeded["family"])
    for path in _paged_routes(seeded["public"]):
        for parameter in ("page", "per_page"):
            response = api("GET", f"{path}?{parameter}={page}", token=family)
            assert_problem(response, 422, parameter)


def test_the_largest_page_allowed_is_an_empty_page(api, seeded, token_for):
    family = token_for(seeded["family"])
    for path in _paged_routes(seeded["public"]):
        response = api("GET", f"{path}?page={MAX_PAGE}", token=family)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["items"] == []


def _json_routes(seeded: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(method, path, signed in as the family) of every operation that reads a JSON body."""
    draft, public = seeded["draft"].id, seeded["public"].id
    return [
        ("POST", f"/campaigns/{public}/donations", False),
        ("POST", "/campaigns", True),
        ("PATCH", f"/campaigns/{draft}", True),
        ("POST", f"/campaigns/{draft}/transitions/cancel", True),
    ]


@pytest.mark.parametrize("depth", [200_000, 2_000])
def test_deeply_nested_json_is_a_400(api, seeded, token_for, depth):
    family = token_for(seeded["family"])
    for body in ("[" * depth, "[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        for method, path, signed_in in _json_routes(seeded):
            response = api(
                method, path, token=family if signed_in else None, data=body, content_type="application/json"
            )
            assert_problem(response, 400)


def test_a_json_number_of_five_thousand_digits_is_a_400_or_422(api, seeded):
    response = api(
        "POST",
        f"/campaigns/{seeded['public'].id}/donations",
        data='{"amount_fen": ' + FIVE_THOUSAND_DIGITS + ', "email": "guest@example.cn"}',
        content_type="application/json",
    )
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)


def test_control_characters_in_a_body_are_a_documented_400(api, seeded, token_for):
    gift = {"amount_fen": 5_000, "email": "guest@example.cn", "message": "加油\x00"}
    assert_problem(api("POST", f"/campaigns/{seeded['public'].id}/donations", json=gift), 400)
    submit = api(
        "POST",
        f"/campaigns/{seeded['draft'].id}/submit",
        token=token_for(seeded["family"]),
        data={"note": "\x1b[31m"},
        content_type="multipart/form-data",
    )
    assert_problem(submit, 400)


def _feed(kind: str, campaign: Campaign) -> tuple[dict[str, str], list[str]]:
    """A row of this kind whose every number is 5,000 digits long, and the columns that hold them."""
    if kind == "civil_affairs":
        numbers = {
            "household_size": FIVE_THOUSAND_DIGITS,
            "monthly_household_income_yuan": FIVE_THOUSAND_DIGITS,
        }
        return civil_affairs_row(campaign, **numbers), list(numbers)
    if kind == "basic_enrolment":
        numbers = {"ytd_reimbursed_yuan": FIVE_THOUSAND_DIGITS, "year": FIVE_THOUSAND_DIGITS}
        return enrolment_row(campaign, **numbers), list(numbers)
    numbers = {"ytd_paid_yuan": FIVE_THOUSAND_DIGITS}
    return critical_illness_row(campaign, **numbers), list(numbers)


@pytest.mark.parametrize("kind", ["civil_affairs", "basic_enrolment", "critical_illness"])
def test_a_records_feed_with_five_thousand_digit_numbers_is_refused_row_by_row(api, seeded, token_for, kind):
    row, columns = _feed(kind, seeded["draft"])
    admin = token_for(seeded["admin"])

    def post(feed: bytes, name: str) -> Any:
        return api(
            "POST",
            "/records/imports",
            token=admin,
            data={"kind": kind, "file": (io.BytesIO(feed), name)},
            content_type="multipart/form-data",
        )

    body = assert_problem(post(to_csv([row]), "feed.csv"), 422)
    assert set(columns) <= {error["column"] for error in body["row_errors"]}, body["row_errors"]

    # The same numbers as JSON numbers, not strings: more digits than Python turns into an int by default.
    as_json = json.dumps([row]).replace(f'"{FIVE_THOUSAND_DIGITS}"', FIVE_THOUSAND_DIGITS)
    assert_problem(post(as_json.encode(), "feed.json"), 422)
