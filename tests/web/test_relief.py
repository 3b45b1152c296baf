"""Relief projects and matching, end to end through the pages: staff create a project (rules checked and
previewed), a run makes offers, staff approve and decline them, the ledger, the remaining need, the family's
dashboard and the public page follow; declined pairs stay declined, expired offers come back, a dry run
changes nothing, and one charity's staff cannot touch another's project."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.errors import IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import AccountKind, Campaign, MatchRun, Offer, OfferStatus, ReliefProject
from fundraise.models.columns import utcnow
from fundraise.payments import get_provider
from fundraise.services import donations, matching_runs, offers, relief_projects
from fundraise.services.donations import remaining_need_fen
from tests.factories import CampaignFactory, UserFactory

CHILD_LEUKAEMIA = {
    "name": "白血病患儿救助",
    "description": "为十四岁以下白血病患儿提供治疗救助。",
    "disease_categories": ["leukemia"],
    "max_age": "14",
    "per_case_cap": "30000",
    "deposit": "100000",
    "deposit_reference": "BANK-001",
}


def staff(charity: Any = None) -> Any:
    user = (
        UserFactory(charity_staff=True)
        if charity is None
        else UserFactory(charity_staff=True, charity=charity)
    )
    db.session.commit()
    return user


def case(**fields: Any) -> Campaign:
    fields.setdefault("state", "fundraising")
    made = CampaignFactory(**fields)
    db.session.commit()
    return made


def project_fields(**changes: Any) -> dict[str, Any]:
    fields = {
        "name": "白血病患儿救助",
        "rules": {"disease_categories": ["leukemia"], "max_age": 14},
        "per_case_cap_fen": 3_000_000,
        "deposit_fen": 10_000_000,
        "deposit_reference": "BANK-1",
    }
    fields.update(changes)
    return fields


def run_now(dry_run: bool = False) -> MatchRun:
    run, started = matching_runs.start_run(None, dry_run=dry_run, queue_job=False)
    assert started
    return matching_runs.execute_run(run.id)


def offers_of(campaign: Campaign, status: str = OfferStatus.PENDING) -> list[Offer]:
    return list(
        db.session.scalars(select(Offer).where(Offer.campaign_id == campaign.id, Offer.status == status))
    )


def test_staff_create_a_project_after_a_preview(client: FlaskClient, login: Any) -> None:
    case()
    case(
        patient_birth_date=utcnow().date().replace(year=1980), patient_id_sequence=7
    )  # an adult: not counted
    login(staff())
    preview = client.post("/relief/projects/new", data={**CHILD_LEUKAEMIA, "preview": "1"})
    assert preview.status_code == 200
    assert "1 current case qualifies" in preview.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ReliefProject)) == 0

    saved = client.post("/relief/projects/new", data={**CHILD_LEUKAEMIA, "save": "1"})
    assert saved.status_code == 302
    project = db.session.scalars(select(ReliefProject)).one()
    assert project.rules == {"disease_categories": ["leukemia"], "max_age": 14}
    assert ledger.balance(ledger.account(AccountKind.PROJECT_BUDGET, project.id)) == 10_000_000
    assert ledger.balance(ledger.account(AccountKind.CHARITY_FUNDS, project.charity_id)) == -10_000_000
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "100,000" in page
    assert "Ages up to 14" in page


def test_bad_rules_rerender_with_every_message_and_write_nothing(client: FlaskClient, login: Any) -> None:
    login(staff())
    empty = client.post(
        "/relief/projects/new",
        data={**CHILD_LEUKAEMIA, "disease_categories": [], "max_age": "", "save": "1"},
    )
    assert empty.status_code == 422
    assert "Set at least one condition" in empty.get_data(as_text=True)
    contradictory = client.post(
        "/relief/projects/new",
        data={**CHILD_LEUKAEMIA, "min_age": "15", "per_case_cap": "200000", "save": "1"},
    )
    body = contradictory.get_data(as_text=True)
    assert contradictory.status_code == 422
    assert "nobody qualifies" in body
    assert "more than the whole budget" in body
    assert 'value="200000"' in body  # what was typed is kept
    reversed_window = client.post(
        "/relief/projects/new",
        data={**CHILD_LEUKAEMIA, "opens_on": "2026-12-31", "closes_on": "2026-01-01", "save": "1"},
    )
    assert "close before it opens" in reversed_window.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ReliefProject)) == 0


def test_run_offers_then_approval_commits_budget_and_lowers_the_need(
    app: Flask, client: FlaskClient, login: Any
) -> None:
    child = case()
    worker = staff()
    project = relief_projects.create_project(worker, project_fields())
    need_before = remaining_need_fen(child)

    login(worker)
    started = client.post("/relief/runs", data={})
    assert started.status_code == 302
    run_page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert "New offers" in run_page
    [offer] = offers_of(child)
    assert offer.amount_fen == 3_000_000
    assert offer.bound_code == "per_case_cap"
    queue = client.get("/relief/offers").get_data(as_text=True)
    assert child.title in queue
    assert "30,000" in queue

    approved = client.post("/relief/offers", data={"offer_ids": [offer.id], "decision": "approve"})
    assert approved.status_code == 302
    db.session.refresh(offer)
    assert offer.status == OfferStatus.APPROVED
    assert ledger.balance(ledger.account(AccountKind.PROJECT_BUDGET, project.id)) == 7_000_000
    assert ledger.balance(ledger.account(AccountKind.PROJECT_COMMITMENT, project.id)) == 3_000_000
    assert remaining_need_fen(child) == need_before - 3_000_000
    public = client.get(f"/campaigns/{child.id}").get_data(as_text=True)
    assert (
        "Support from charities" in public and project.charity.name_en in public
    ) or project.charity.name_zh in public

    # The family's dashboard and notice.
    family = client.application.test_client()
    from tests.factories import PASSWORD

    family.post("/login", data={"email": child.applicant.email, "password": PASSWORD})
    dashboard = family.get("/family/").get_data(as_text=True)
    assert "Support from charities" in dashboard
    assert "30,000" in dashboard

    # A second run gives the case nothing more from this project: its cap is used.
    run_now()
    assert offers_of(child) == []


def test_declined_pairs_are_never_offered_again_and_expired_ones_come_back(login: Any) -> None:
    child, other = case(), case(patient_id_sequence=9)
    worker = staff()
    relief_projects.create_project(worker, project_fields())
    run_now()
    [offer], [kept] = offers_of(child), offers_of(other)
    with pytest.raises(ValidationFailed) as refused:  # a decline needs a reason
        offers.decide([offer.id], worker, "decline", "")
    assert "note" in refused.value.fields
    assert offers.decide([offer.id], worker, "decline", "已由其他项目资助").done == [offer.id]

    run_now()
    assert offers_of(child) == []  # declined: not offered again
    assert [o.id for o in offers_of(other)] == [
        kept.id
    ]  # a pending offer stands: the queue is not reshuffled

    # An offer nobody decided in time expires; the next run offers its budget again.
    kept.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    run_now()
    db.session.refresh(kept)
    assert kept.status == OfferStatus.EXPIRED
    [again] = offers_of(other)
    assert again.id != kept.id
    assert again.amount_fen == kept.amount_fen


def test_a_dry_run_changes_nothing_and_says_what_would(client: FlaskClient, login: Any) -> None:
    child = case()
    worker = staff()
    relief_projects.create_project(worker, project_fields())
    run = run_now(dry_run=True)
    assert run.summary["offers_new"] == 1
    assert run.summary["changes"][0]["campaign_id"] == child.id
    assert offers_of(child) == []
    login(worker)
    page = client.get(f"/relief/runs/{run.id}").get_data(as_text=True)
    assert "What would change" in page
    assert "New offer" in page


def test_why_lists_every_project_with_each_rule(client: FlaskClient, login: Any) -> None:
    child = case()
    worker = staff()
    relief_projects.create_project(worker, project_fields())
    relief_projects.create_project(
        worker,
        project_fields(name="先心病", rules={"icd10_prefixes": ["Q21"]}, deposit_reference="BANK-2"),
    )
    run_now()
    login(worker)
    page = client.get(f"/relief/cases/{child.id}/why").get_data(as_text=True)
    assert "白血病患儿救助" in page
    assert "先心病" in page
    assert "Not eligible" in page
    assert "Eligible" in page
    assert "is not under Q21" in page
    assert "most for one case" in page  # the bound of the pair the run solved


def test_another_charitys_staff_cannot_see_or_decide(client: FlaskClient, login: Any) -> None:
    case()
    owner = staff()
    project = relief_projects.create_project(owner, project_fields())
    run_now()
    [offer] = db.session.scalars(select(Offer)).all()
    stranger = staff()
    login(stranger)
    assert client.get(f"/relief/projects/{project.id}").status_code == 404
    answer = client.post("/relief/offers", data={"offer_ids": [offer.id], "decision": "approve"})
    assert answer.status_code == 409
    db.session.refresh(offer)
    assert offer.status == OfferStatus.PENDING


def test_closing_returns_the_budget_and_the_ledger_stays_consistent(runner: Any) -> None:
    child = case()
    worker = staff()
    project = relief_projects.create_project(worker, project_fields())
    run_now()
    [offer] = offers_of(child)
    offers.decide([offer.id], worker, "approve")
    relief_projects.set_status(project, worker, "closed")
    assert ledger.balance(ledger.account(AccountKind.PROJECT_BUDGET, project.id)) == 0
    assert ledger.balance(ledger.account(AccountKind.CHARITY_FUNDS, project.charity_id)) == -3_000_000
    assert ledger.balance(ledger.account(AccountKind.PROJECT_COMMITMENT, project.id)) == 3_000_000
    result = runner.invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output


def test_match_run_command_shows_progress_and_a_summary(runner: Any) -> None:
    case()
    relief_projects.create_project(staff(), project_fields())
    result = runner.invoke(args=["match", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would offer 1 new offers" in result.output
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
    result = runner.invoke(args=["match", "run"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 1


def give(campaign: Campaign, amount_fen: int) -> None:
    donation, _url = donations.start_donation(campaign, None, amount_fen)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()


def test_gifts_after_a_run_withdraw_what_is_no_longer_needed_and_commitments_limit_gifts(app: Flask) -> None:
    child = case(target_fen=5_000_000)
    worker = staff()
    relief_projects.create_project(worker, project_fields())
    run_now()
    [offer] = offers_of(child)
    assert offer.amount_fen == 3_000_000

    give(child, 2_500_000)  # the need is now 25,000 yuan, less than the offer
    refused = offers.decide([offer.id], worker, "approve")
    assert refused.done == []
    assert "now needs ¥25,000" in refused.refused[offer.id]
    db.session.rollback()

    run_now()
    db.session.refresh(offer)
    assert (offer.status, offer.withdrawn_reason) == (OfferStatus.WITHDRAWN, "need_fell")
    [fresh] = offers_of(child)
    assert fresh.amount_fen == 2_500_000
    assert offers.decide([fresh.id], worker, "approve").done == [fresh.id]

    # Donations + commitments now cover the target: no gift is taken above it.
    assert remaining_need_fen(child) == 0
    with pytest.raises(IllegalTransition, match="reached its target"):
        donations.start_donation(child, None, 10_000)


def test_every_mistake_shows_in_one_round(client: FlaskClient, login: Any) -> None:
    """An amount the form cannot read and a rule that does not hold together are shown together."""
    login(staff())
    answer = client.post(
        "/relief/projects/new",
        data={**CHILD_LEUKAEMIA, "per_case_cap": "-5", "min_age": "20", "region_prefixes": "3x", "save": "1"},
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "The amount cannot be negative." in body
    assert "nobody qualifies" in body
    assert "is not a region-code prefix" in body
    assert db.session.scalar(select(func.count()).select_from(ReliefProject)) == 0
