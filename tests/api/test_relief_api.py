"""API v1 for relief: charity staff create projects and fund them, start matching runs, decide the offers
queue and read a case's "why"; the public sees a campaign's approved support. Field errors come back as
problem documents by field, staff see their own charity's projects only, and every answer conforms to the
OpenAPI document (tests/api/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import AccountKind, Campaign, MatchRun, Offer, ReliefProject, RunStatus, User
from fundraise.services.donations import remaining_need_fen
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory, CharityFactory, UserFactory

Api = Callable[..., Any]

# The factory's case: a 7-year-old in Linquan county (341221), Anhui, with leukaemia (C91.0).
CHILDREN_IN_ANHUI = {"min_age": 0, "max_age": 17, "region_prefixes": ["34"]}
CAP_FEN = 5_000_000
BUDGET_FEN = 20_000_000


def project_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "安徽儿童大病救助",
        "description": "为安徽省的患病儿童提供医疗救助。",
        "rules": dict(CHILDREN_IN_ANHUI),
        "per_case_cap_fen": CAP_FEN,
        "deposit_fen": BUDGET_FEN,
        "deposit_reference": "BOC-20261201-01",
        "opens_on": None,
        "closes_on": None,
    }
    body.update(changes)
    return body


@pytest.fixture
def staff() -> User:
    user = UserFactory(charity_staff=True)
    db.session.commit()
    return user


@pytest.fixture
def staff_token(staff: User, token_for: Callable[[Any], str]) -> str:
    token = token_for(staff)
    db.session.commit()
    return token


def token_of(user: User, token_for: Callable[[Any], str]) -> str:
    token = token_for(user)
    db.session.commit()
    return token


def create_project(api: Api, token: str, **changes: Any) -> dict[str, Any]:
    response = api("POST", "/relief/projects", token, json=project_body(**changes))
    assert response.status_code == 201, response.get_data(as_text=True)
    return dict(response.get_json())


def fundraising_case(**fields: Any) -> Campaign:
    fields.setdefault("target_fen", 15_000_000)
    made = CampaignFactory(state=fields.pop("state", "fundraising"), **fields)
    db.session.commit()
    return made


def project_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ReliefProject)) or 0


def balances(project_id: int) -> tuple[int, int]:
    """The project's budget and commitment, as the ledger holds them."""
    budget = ledger.owned_balances(AccountKind.PROJECT_BUDGET, [project_id])[project_id]
    committed = ledger.owned_balances(AccountKind.PROJECT_COMMITMENT, [project_id])[project_id]
    return budget, committed


# --- projects --------------------------------------------------------------------------------------------


def test_staff_create_a_project_funded_by_its_first_deposit(api: Api, staff: User, staff_token: str) -> None:
    response = api("POST", "/relief/projects", staff_token, json=project_body(opens_on="2026-01-01"))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"] == body["url"]
    assert body["url"].endswith(f"/api/v1/relief/projects/{body['id']}")
    assert body["charity"]["id"] == staff.charity_id
    assert body["status"] == "open"
    assert body["opens_on"] == "2026-01-01"
    assert body["closes_on"] is None
    assert body["per_case_cap_fen"] == CAP_FEN
    assert body["per_case_cap_yuan"] == "¥50,000"
    # Every condition is listed, those the rule does not look at empty.
    assert body["rules"]["region_prefixes"] == ["34"]
    assert body["rules"]["max_age"] == 17
    assert body["rules"]["icd10_prefixes"] == []
    assert body["rules"]["max_income_per_capita_fen"] is None
    assert body["rule_summary"]
    assert body["money"] == {
        "budget_fen": BUDGET_FEN,
        "budget_yuan": "¥200,000",
        "committed_fen": 0,
        "committed_yuan": "¥0",
        "pending_fen": 0,
        "pending_yuan": "¥0",
        "available_fen": BUDGET_FEN,
        "available_yuan": "¥200,000",
    }
    assert balances(body["id"]) == (BUDGET_FEN, 0)

    shown = api("GET", f"/relief/projects/{body['id']}", staff_token)
    assert shown.status_code == 200
    assert shown.get_json()["name"] == "安徽儿童大病救助"
    listed = api("GET", "/relief/projects", staff_token).get_json()["items"]
    assert [item["id"] for item in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rules": {}}, "rules"),  # a rule must say whom it serves
        ({"rules": {"min_age": 12, "max_age": 3}}, "rules.min_age"),
        ({"rules": {"region_prefixes": ["3"]}}, "rules.region_prefixes"),
        ({"rules": {"min_age": "seven"}}, "rules.min_age"),  # the wrong type, refused by the schema
        ({"rules": {"favourite_colour": ["red"]}}, "rules.favourite_colour"),
        ({"per_case_cap_fen": BUDGET_FEN + 1}, "per_case_cap_fen"),  # above the whole budget
        ({"per_case_cap_fen": 0}, "per_case_cap_fen"),
        ({"opens_on": "2026-06-01", "closes_on": "2026-05-31"}, "closes_on"),  # closes before it opens
        ({"deposit_reference": "not a reference!"}, "deposit_reference"),
        ({"deposit_fen": 100.5}, "deposit_fen"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_project_with_faults_is_refused_by_field_and_nothing_is_written(
    api: Api, staff_token: str, changes: dict[str, Any], field: str
) -> None:
    response = api("POST", "/relief/projects", staff_token, json=project_body(**changes))
    body = assert_problem(response, 422, field)
    assert all(isinstance(text, str) and text for text in body["errors"][field])
    assert project_count() == 0


def test_a_project_needs_its_rule_cap_and_deposit(api: Api, staff_token: str) -> None:
    response = api("POST", "/relief/projects", staff_token, json={"name": "空"})
    assert_problem(response, 422, "rules", "per_case_cap_fen", "deposit_fen", "deposit_reference")


def test_projects_are_their_charitys_own(api: Api, token_for: Callable[[Any], str], staff_token: str) -> None:
    project = create_project(api, staff_token)
    path = f"/relief/projects/{project['id']}"
    other = token_of(UserFactory(charity_staff=True), token_for)
    assert_problem(api("GET", path, other), 404)
    assert_problem(api("PATCH", path, other, json={"name": "Mine now"}), 404)
    assert_problem(api("POST", f"{path}/deposits", other, json={"amount_fen": 100, "reference": "X-1"}), 404)
    assert_problem(api("POST", f"{path}/status", other, json={"status": "closed"}), 404)
    assert api("GET", "/relief/projects", other).get_json()["items"] == []

    donor = token_of(UserFactory(donor=True), token_for)
    assert_problem(api("GET", path, donor), 403)
    assert_problem(api("POST", "/relief/projects", donor, json=project_body()), 403)
    assert_problem(api("GET", "/relief/offers", donor), 403)
    assert_problem(api("GET", path), 401)
    assert_problem(api("GET", "/relief/projects"), 401)
    assert_problem(api("POST", "/relief/runs", json={}), 401)

    admin = token_of(UserFactory(admin=True), token_for)
    assert api("GET", path, admin).status_code == 200
    assert balances(project["id"]) == (BUDGET_FEN, 0)


def test_staff_may_not_create_for_another_charity_and_admins_name_one(
    api: Api, token_for: Callable[[Any], str], staff_token: str
) -> None:
    elsewhere = CharityFactory()
    db.session.commit()
    assert_problem(
        api("POST", "/relief/projects", staff_token, json=project_body(charity_id=elsewhere.id)),
        422,
        "charity_id",
    )
    admin = token_of(UserFactory(admin=True), token_for)
    assert_problem(api("POST", "/relief/projects", admin, json=project_body()), 422, "charity_id")
    assert_problem(
        api("POST", "/relief/projects", admin, json=project_body(charity_id=99_999)), 422, "charity_id"
    )
    made = api("POST", "/relief/projects", admin, json=project_body(charity_id=elsewhere.id))
    assert made.status_code == 201
    assert made.get_json()["charity"]["code"] == elsewhere.code


def test_a_deposit_adds_to_the_budget_once_per_reference(api: Api, staff_token: str) -> None:
    project = create_project(api, staff_token)
    path = f"/relief/projects/{project['id']}/deposits"
    response = api("POST", path, staff_token, json={"amount_fen": 3_000_000, "reference": "BOC-20261215-07"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["money"]["budget_fen"] == BUDGET_FEN + 3_000_000
    assert balances(project["id"]) == (BUDGET_FEN + 3_000_000, 0)

    again = api("POST", path, staff_token, json={"amount_fen": 3_000_000, "reference": "BOC-20261215-07"})
    assert_problem(again, 422, "reference")
    assert_problem(
        api("POST", path, staff_token, json={"amount_fen": 0, "reference": "BOC-2"}), 422, "amount_fen"
    )
    assert_problem(
        api("POST", path, staff_token, json={"amount_fen": "5", "reference": "BOC-3"}), 422, "amount_fen"
    )
    assert balances(project["id"]) == (BUDGET_FEN + 3_000_000, 0)


def test_a_change_keeps_what_it_leaves_out(api: Api, staff_token: str) -> None:
    project = create_project(api, staff_token, opens_on="2026-01-01")
    path = f"/relief/projects/{project['id']}"
    response = api("PATCH", path, staff_token, json={"per_case_cap_fen": 2_000_000})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["per_case_cap_fen"] == 2_000_000
    assert body["name"] == project["name"]
    assert body["opens_on"] == "2026-01-01"
    assert body["rules"] == project["rules"]

    changed = api("PATCH", path, staff_token, json={"rules": {"icd10_prefixes": ["C91"]}}).get_json()
    assert changed["rules"]["icd10_prefixes"] == ["C91"]
    assert changed["rules"]["region_prefixes"] == []  # the rule is replaced whole

    assert_problem(api("PATCH", path, staff_token, json={"rules": {}}), 422, "rules")
    assert_problem(api("PATCH", path, staff_token, json={"closes_on": "2025-12-31"}), 422, "closes_on")
    assert_problem(api("PATCH", path, staff_token, json={"deposit_fen": 5}), 422, "deposit_fen")


def test_a_closed_project_returns_its_budget_and_stays_closed(api: Api, staff_token: str) -> None:
    project = create_project(api, staff_token)
    path = f"/relief/projects/{project['id']}/status"
    paused = api("POST", path, staff_token, json={"status": "paused"})
    assert paused.status_code == 200
    assert paused.get_json()["status"] == "paused"
    closed = api("POST", path, staff_token, json={"status": "closed"}).get_json()
    assert closed["status"] == "closed"
    assert closed["money"]["budget_fen"] == 0
    assert_problem(api("POST", path, staff_token, json={"status": "open"}), 422, "status")
    assert_problem(api("POST", path, staff_token, json={"status": "gone"}), 422, "status")


def test_a_rule_preview_counts_the_cases_it_admits(api: Api, staff_token: str) -> None:
    fundraising_case()
    fundraising_case(patient_region_code="110105")  # Beijing: outside the rule
    fundraising_case(state="draft")  # not verified: not a case yet
    response = api("POST", "/relief/projects/preview", staff_token, json={"rules": CHILDREN_IN_ANHUI})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"cases": 1, "need_fen": 15_000_000, "need_yuan": "¥150,000"}
    assert_problem(api("POST", "/relief/projects/preview", staff_token, json={"rules": {}}), 422, "rules")
    refused = api(
        "POST", "/relief/projects/preview", staff_token, json={"rules": {"hospital_tiers": ["best"]}}
    )
    assert_problem(refused, 422, "rules.hospital_tiers")


# --- runs, offers and decisions --------------------------------------------------------------------------


def run_matching(api: Api, token: str, **body: Any) -> dict[str, Any]:
    started = api("POST", "/relief/runs", token, json=body)
    assert started.status_code == 202, started.get_data(as_text=True)
    run = started.get_json()
    assert started.headers["Location"] == run["url"]
    # Jobs run inline in tests, once the request that queued them has committed: the run is over.
    finished = api("GET", f"/relief/runs/{run['id']}", token)
    assert finished.status_code == 200
    return dict(finished.get_json())


def test_a_run_offers_a_fitting_case_and_an_approval_commits_the_budget(
    api: Api, staff_token: str, token_for: Callable[[Any], str]
) -> None:
    case = fundraising_case()
    fundraising_case(patient_region_code="110105")  # outside the rule: no offer
    project = create_project(api, staff_token)

    run = run_matching(api, staff_token)
    assert run["status"] == "succeeded", run
    assert run["dry_run"] is False
    assert run["progress"] == 100
    summary = run["summary"]
    assert summary["offers_new"] == 1
    assert summary["offered_fen"] == CAP_FEN
    assert summary["cases_with_projects"] == 1
    assert summary["changes"][0]["change"] == "new"
    assert [r["id"] for r in api("GET", "/relief/runs", staff_token).get_json()["items"]] == [run["id"]]

    queue = api("GET", "/relief/offers", staff_token)
    assert queue.status_code == 200
    page = queue.get_json()
    assert page["total"] == 1
    offer = page["items"][0]
    assert offer["campaign_id"] == case.id
    assert offer["project_id"] == project["id"]
    assert offer["amount_fen"] == CAP_FEN
    assert offer["status"] == "pending"
    assert offer["bound_code"] == "per_case_cap"
    assert offer["bound_text"]
    assert offer["remaining_need_fen"] == 15_000_000
    shown = api("GET", f"/relief/projects/{project['id']}", staff_token).get_json()["money"]
    assert (shown["pending_fen"], shown["available_fen"]) == (CAP_FEN, BUDGET_FEN - CAP_FEN)

    # Another charity's staff see none of it and may not decide it.
    other = token_of(UserFactory(charity_staff=True), token_for)
    assert api("GET", "/relief/offers", other).get_json()["total"] == 0
    refused = api(
        "POST", "/relief/offers/decisions", other, json={"offer_ids": [offer["id"]], "decision": "approve"}
    )
    assert refused.status_code == 200
    assert refused.get_json()["done"] == []
    assert [r["offer_id"] for r in refused.get_json()["refused"]] == [offer["id"]]

    assert remaining_need_fen(case) == 15_000_000
    decided = api(
        "POST",
        "/relief/offers/decisions",
        staff_token,
        json={"offer_ids": [offer["id"], 987_654], "decision": "approve", "note": "符合本项目资助条件"},
    )
    assert decided.status_code == 200, decided.get_data(as_text=True)
    assert decided.get_json()["done"] == [offer["id"]]
    assert [r["offer_id"] for r in decided.get_json()["refused"]] == [987_654]
    assert balances(project["id"]) == (BUDGET_FEN - CAP_FEN, CAP_FEN)
    db.session.expire_all()
    assert remaining_need_fen(db.session.get(Campaign, case.id)) == 15_000_000 - CAP_FEN

    approved = api("GET", "/relief/offers?status=approved", staff_token).get_json()
    assert [item["id"] for item in approved["items"]] == [offer["id"]]
    assert approved["items"][0]["decision_note"] == "符合本项目资助条件"
    assert api("GET", "/relief/offers", staff_token).get_json()["total"] == 0
    twice = api(
        "POST",
        "/relief/offers/decisions",
        staff_token,
        json={"offer_ids": [offer["id"]], "decision": "approve"},
    )
    assert twice.get_json()["refused"][0]["reason"]
    assert balances(project["id"]) == (BUDGET_FEN - CAP_FEN, CAP_FEN)

    # The public sees the approved support on the campaign.
    public = api("GET", f"/campaigns/{case.id}/relief")
    assert public.status_code == 200
    support = public.get_json()
    assert support["total_fen"] == CAP_FEN
    assert support["items"] == [
        {
            "charity": support["items"][0]["charity"],
            "project": "安徽儿童大病救助",
            "amount_fen": CAP_FEN,
            "amount_yuan": "¥50,000",
        }
    ]
    assert support["items"][0]["charity"]["id"] == project["charity"]["id"]


def test_a_decline_needs_a_note_and_is_never_offered_again(api: Api, staff_token: str) -> None:
    case = fundraising_case()
    create_project(api, staff_token)
    run_matching(api, staff_token)
    offer = api("GET", "/relief/offers", staff_token).get_json()["items"][0]

    bare = api(
        "POST",
        "/relief/offers/decisions",
        staff_token,
        json={"offer_ids": [offer["id"]], "decision": "decline"},
    )
    assert_problem(bare, 422, "note")
    assert_problem(
        api("POST", "/relief/offers/decisions", staff_token, json={"offer_ids": [], "decision": "approve"}),
        422,
        "offer_ids",
    )
    assert_problem(
        api(
            "POST", "/relief/offers/decisions", staff_token, json={"offer_ids": ["1"], "decision": "approve"}
        ),
        422,
        "offer_ids",
    )
    assert_problem(
        api("POST", "/relief/offers/decisions", staff_token, json={"offer_ids": [1], "decision": "maybe"}),
        422,
        "decision",
    )
    assert db.session.get(Offer, offer["id"]).status == "pending"

    declined = api(
        "POST",
        "/relief/offers/decisions",
        staff_token,
        json={"offer_ids": [offer["id"]], "decision": "decline", "note": "已由其他项目资助"},
    )
    assert declined.get_json() == {"decision": "decline", "done": [offer["id"]], "refused": []}
    again = run_matching(api, staff_token)
    assert again["summary"]["offers_new"] == 0
    assert api("GET", f"/campaigns/{case.id}/relief").get_json()["items"] == []


def test_a_dry_run_only_says_what_would_change(api: Api, staff_token: str) -> None:
    fundraising_case()
    create_project(api, staff_token)
    run = run_matching(api, staff_token, dry_run=True)
    assert run["dry_run"] is True
    assert run["status"] == "succeeded"
    assert [change["change"] for change in run["summary"]["changes"]] == ["new"]
    assert api("GET", "/relief/offers", staff_token).get_json()["total"] == 0


def test_one_run_at_a_time(api: Api, staff_token: str) -> None:
    under_way = MatchRun(status=RunStatus.RUNNING, dry_run=False, stage="solving", progress=50)
    db.session.add(under_way)
    db.session.commit()
    response = api("POST", "/relief/runs", staff_token)  # the body is optional
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == under_way.id
    assert body["status"] == "running"
    assert body["summary"] is None
    assert_problem(api("POST", "/relief/runs", staff_token, json={"dry_run": "yes"}), 422, "dry_run")
    assert_problem(api("GET", "/relief/runs/424242", staff_token), 404)


def test_the_why_lists_each_project_with_its_checks(api: Api, staff_token: str) -> None:
    case = fundraising_case()
    fits = create_project(api, staff_token)
    adults = create_project(
        api, staff_token, name="成人大病救助", rules={"min_age": 18}, deposit_reference="BOC-20261201-02"
    )
    before = api("GET", f"/relief/cases/{case.id}/why", staff_token)
    assert before.status_code == 200, before.get_data(as_text=True)
    assert before.get_json()["last_run"] is None
    run = run_matching(api, staff_token)

    why = api("GET", f"/relief/cases/{case.id}/why", staff_token).get_json()
    assert why["campaign_id"] == case.id
    assert why["matchable"] is True
    assert why["need_fen"] == 15_000_000
    assert why["priority"]["total"] == sum(part["points"] for part in why["priority"]["parts"])
    assert why["last_run"]["id"] == run["id"]
    assert why["last_run"]["covered_fen"] == CAP_FEN
    by_id = {item["project_id"]: item for item in why["projects"]}
    eligible = by_id[fits["id"]]
    assert eligible["eligible"] is True
    assert eligible["charity"]["id"] == fits["charity"]["id"]
    assert [check["rule"] for check in eligible["checks"]] == ["age", "region"]
    assert [check["code"] for check in eligible["checks"]] == ["age_in_range", "region_in"]
    assert all(check["passed"] and check["text"] for check in eligible["checks"])
    assert eligible["run_amount_fen"] == CAP_FEN
    assert eligible["bound"]["code"] == "per_case_cap"
    assert eligible["bound"]["text"]
    assert [offer["status"] for offer in eligible["offers"]] == ["pending"]
    too_young = by_id[adults["id"]]
    assert too_young["eligible"] is False
    assert [check["passed"] for check in too_young["checks"]] == [False]
    assert too_young["run_amount_fen"] is None
    assert too_young["bound"] is None

    draft = fundraising_case(state="draft")
    not_matched = api("GET", f"/relief/cases/{draft.id}/why", staff_token).get_json()
    assert not_matched["matchable"] is False
    assert not_matched["not_matchable"] == "not_verified"
    assert not_matched["need_fen"] is None
    assert_problem(api("GET", "/relief/cases/424242/why", staff_token), 404)


def test_the_public_sees_support_of_public_campaigns_only(api: Api) -> None:
    draft = fundraising_case(state="draft")
    assert_problem(api("GET", f"/campaigns/{draft.id}/relief"), 404)
    shown = api("GET", f"/campaigns/{fundraising_case().id}/relief").get_json()
    assert shown["items"] == []
    assert shown["total_fen"] == 0
