"""The webhook's hot path stays lean (issue 10, part 3): a first-time `payment_intent.succeeded` is verified,
stored and applied in a handful of SQL statements however many gifts the campaign already has, and a
duplicate costs one. Counted statements, never timings."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask

from fundraise.extensions import db
from fundraise.models import Donation
from fundraise.payments.provider import EventKind, ProviderEvent
from fundraise.services.donations.events import handle_event
from tests.factories import CampaignFactory
from tests.statements import counting

# Transaction control is not work: BEGIN, SAVEPOINT, RELEASE and COMMIT are left out of the count.
CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")
FIRST_TIME_LIMIT = {0: 10, 60: 15}  # by fee: Stripe sends none unless the charge is expanded


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"AUDIT_SEAL_AFTER_COMMIT": False}  # as in production: the worker seals, not the request


def work(statements: list[str]) -> list[str]:
    """The statements that did work, a line each: transaction control left out, and the rows of one INSERT
    counted once (PostgreSQL sends them as one statement; SQLite's driver, row by row)."""
    lines: list[str] = []
    for statement in statements:
        if statement.lstrip().upper().startswith(CONTROL):
            continue
        line = statement.split("\n", 1)[0][:120]
        if not (line.startswith("INSERT") and lines and lines[-1] == line):
            lines.append(line)
    return lines


def _donation(campaign_id: int) -> Donation:
    row = Donation(
        campaign_id=campaign_id,
        amount_fen=10_000,
        provider="sandbox",
        provider_payment_id=f"pay_{uuid.uuid4().hex[:14]}",
        idempotency_key=f"donation-{uuid.uuid4().hex}",
    )
    db.session.add(row)
    return row


def _succeeded(donation: Donation, fee_fen: int = 0) -> ProviderEvent:
    return ProviderEvent(
        provider="sandbox",
        event_id=f"evt_{uuid.uuid4().hex}",
        type="payment.succeeded",
        kind=EventKind.PAYMENT_SUCCEEDED,
        payment_id=donation.provider_payment_id,
        donation_id=donation.id,
        amount_fen=donation.amount_fen,
        currency=donation.currency,
        fee_fen=fee_fen,
        payload={"id": "evt"},
    )


@pytest.mark.parametrize("fee_fen", [0, 60], ids=["no fee", "with fee"])
def test_a_first_time_payment_costs_a_handful_of_statements_and_a_duplicate_one(
    app: Flask, fee_fen: int
) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=100_000_000)
    db.session.flush()
    earlier = [_donation(campaign.id) for _ in range(30)]
    fresh = _donation(campaign.id)
    db.session.commit()
    for donation in earlier:  # the campaign's fund already has history
        handle_event(_succeeded(donation, fee_fen))
    event_ = _succeeded(fresh, fee_fen)
    db.session.remove()

    with counting() as statements:
        assert handle_event(event_) == "recorded"
    first = work(statements)
    assert len(first) <= FIRST_TIME_LIMIT[fee_fen], "\n".join(first)

    db.session.remove()
    with counting() as statements:
        assert handle_event(event_) == "duplicate"
    again = work(statements)
    assert len(again) == 1, again
