"""One owner for the commit: a service call is one unit of work, all or nothing; a unit inside another joins it
through a savepoint; and no module of fundraise/ commits except the unit of work itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundraise import ledger
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import Campaign, Charity, Donation, LedgerTransaction, PaymentEvent
from fundraise.payments import get_provider
from fundraise.services import donations
from fundraise.unit_of_work import on_rollback, unit_of_work
from tests.factories import CampaignFactory, CharityFactory

ROOT = Path(__file__).resolve().parents[2]


def _charities() -> int:
    return db.session.scalar(select(func.count()).select_from(Charity)) or 0


def test_a_unit_commits_once_at_its_end_or_not_at_all(app: Flask) -> None:
    with unit_of_work():
        CharityFactory()
    assert _charities() == 1
    undone: list[str] = []

    def fail_half_way() -> None:
        with unit_of_work():
            CharityFactory()
            on_rollback(lambda: undone.append("file removed"))
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        fail_half_way()
    db.session.expire_all()
    assert _charities() == 1
    assert undone == ["file removed"]


def test_a_nested_unit_that_fails_is_undone_and_the_outer_decides(app: Flask) -> None:
    def refuse_inside() -> None:
        with unit_of_work():
            CharityFactory()
            raise RuntimeError("inner refused")

    with unit_of_work():
        CharityFactory()
        with pytest.raises(RuntimeError, match="inner refused"):
            refuse_inside()
        CharityFactory()
    db.session.expire_all()
    assert _charities() == 2


def test_a_payment_event_that_fails_half_way_leaves_nothing_behind(app: Flask, monkeypatch) -> None:
    """The event crosses the campaign's target; queuing the check that closes it breaks (not a domain refusal,
    e.g. the database went away). Nothing of the event stands: not the stored event, not the capture, not the donation's
    new state; the provider's retry then applies it whole."""
    campaign = CampaignFactory(state="fundraising", target_fen=5_000)
    db.session.commit()
    donation, _url = donations.start_donation(campaign, None, 5_000, receipt_email="d@example.cn")
    donation_id, campaign_id = donation.id, campaign.id
    sandbox = get_provider()
    payment = sandbox.payment(donation.provider_payment_id)  # type: ignore[attr-defined]
    payload = sandbox.event("payment.succeeded", payment)  # type: ignore[attr-defined]
    body, headers = sandbox.signed(payload)  # type: ignore[attr-defined]

    def broken(name: str, **args: object) -> None:
        raise RuntimeError("connection lost while queuing the target check")

    monkeypatch.setattr(donations.events, "enqueue", broken)
    with pytest.raises(RuntimeError):
        donations.receive_webhook(sandbox, body, headers)

    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 0
    assert db.session.get(Donation, donation_id).status == "created"  # type: ignore[union-attr]
    assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0
    assert db.session.get(Campaign, campaign_id).state == "fundraising"  # type: ignore[union-attr]

    monkeypatch.undo()
    assert donations.receive_webhook(sandbox, body, headers) == "recorded"
    relay()  # the target check the event queued (a request relays it when it ends)
    db.session.expire_all()
    assert db.session.get(Donation, donation_id).status == "succeeded"  # type: ignore[union-attr]
    assert db.session.get(Campaign, campaign_id).state == "closed"  # type: ignore[union-attr]
    assert ledger.verify()[1] == []
    assert donations.check_donations()[1] == []


def test_nothing_in_fundraise_commits_or_rolls_back_but_the_unit_of_work() -> None:
    allowed = {ROOT / "fundraise" / "unit_of_work.py", ROOT / "fundraise" / "database.py"}
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "fundraise").rglob("*.py"))
        if path not in allowed
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\.(commit|rollback)\(\)", line)
    ]
    assert offenders == []
