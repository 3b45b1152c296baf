"""The database goes away in the middle of a webhook (a restart, a failover): the provider is told to try again
(503 with Retry-After), nothing of the event stands, and its retry applies it whole. On PostgreSQL, where the
connection can really be cut: another session terminates the request's own backend half-way."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from fundraise import ledger
from fundraise.errors import DATABASE_RETRY_SECONDS
from fundraise.extensions import db
from fundraise.models import Donation, LedgerTransaction, PaymentEvent
from fundraise.payments import get_provider
from fundraise.payments.provider import EventKind
from fundraise.services import donations as service
from fundraise.services.donations import events
from tests.factories import CampaignFactory


@pytest.mark.services
def test_a_webhook_that_loses_the_database_answers_503_keeps_nothing_and_its_retry_applies_it(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert db.engine.dialect.name == "postgresql"
    campaign = CampaignFactory(state="fundraising", target_fen=10_000_000)
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, 700)
    donation_id = donation.id
    provider = get_provider()
    payment = provider.payment(donation.provider_payment_id)  # type: ignore[attr-defined]
    payment.status = "succeeded"
    body, headers = provider.signed(provider.event("payment.succeeded", payment))  # type: ignore[attr-defined]
    db.session.commit()
    apply = events.HANDLERS[EventKind.PAYMENT_SUCCEEDED]

    def cut_off(*args: Any) -> str:
        # Half-way: the event is stored and the donation locked; now the database drops this connection.
        backend = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        return apply(*args)

    monkeypatch.setitem(events.HANDLERS, EventKind.PAYMENT_SUCCEEDED, cut_off)
    answer = client.post("/payments/webhooks/sandbox", data=body, headers=headers)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(DATABASE_RETRY_SECONDS)
    assert answer.mimetype == "application/problem+json"
    assert "try again" in answer.json["detail"]  # type: ignore[index]

    monkeypatch.undo()
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 0
    assert db.session.get(Donation, donation_id).status != "succeeded"  # type: ignore[union-attr]
    assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0

    retried = client.post("/payments/webhooks/sandbox", data=body, headers=headers)
    assert retried.status_code == 200
    assert retried.json["result"] == "recorded"  # type: ignore[index]
    db.session.remove()
    assert db.session.get(Donation, donation_id).status == "succeeded"  # type: ignore[union-attr]
    assert ledger.verify()[1] == []
