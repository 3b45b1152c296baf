"""The Stripe adapter over HTTP against localstripe on loopback: PaymentIntents in CNY fen with metadata,
confirmation with test cards, the payment listing reconciliation reads, refunds; and localstripe's own signed
webhooks delivered over HTTP to the app served on loopback.

What localstripe does not do is tested against the contract server (test_stripe_contract.py): it ignores
Idempotency-Key, knows the older `payment_method_types` (the SDK's API version calls it
`allowed_payment_method_types`, which it refuses), lists charges by `created[gt]` only, sends no refund or
dispute events, and omits `amount_received`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import stripe
from flask import Flask
from werkzeug.serving import make_server

from fundraise.extensions import db
from fundraise.models import Donation, DonationRefund
from fundraise.payments import get_provider
from fundraise.services import donations as service
from fundraise.services.reconciliation import reconcile
from tests.factories import CampaignFactory, UserFactory
from tests.payments.conftest import free_port

SECRET = "whsec_localstripe_aidbridge"
APP_PORT = free_port()


@pytest.fixture
def app_settings(localstripe: str) -> dict[str, Any]:
    return {
        "PAYMENTS_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_aidbridge_localstripe",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": localstripe,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        # The app is also served on loopback (below) for localstripe's webhooks: routes match this host.
        "SERVER_NAME": f"127.0.0.1:{APP_PORT}",
    }


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1:APP_PORT in a thread (each request gets its own app context and session)."""
    server = make_server("127.0.0.1", APP_PORT, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{APP_PORT}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def stripe_client() -> stripe.StripeClient:
    return get_provider().client  # type: ignore[attr-defined,no-any-return]


def pay_with_card(payment_id: str, number: str = "4242424242424242") -> Any:
    """What Stripe.js does in the donor's browser: attach a card and confirm the PaymentIntent."""
    client = stripe_client()
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}}  # type: ignore[typeddict-item]
    )
    client.v1.payment_intents.update(payment_id, params={"payment_method": method.id})
    return client.v1.payment_intents.confirm(payment_id)


def signed_event(event_type: str, obj: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    import json
    import uuid

    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    )
    return body.encode(), {
        "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, SECRET)
    }


def wait_until(check: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.expire_all()
        done = check()
        db.session.rollback()  # never hold a transaction while the server thread writes
        if done:
            return
        time.sleep(0.2)
    raise AssertionError("the condition did not hold in time")


def test_create_confirm_list_and_refund_through_localstripe(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    donation, redirect_url = service.start_donation(campaign, None, 12_345, message="加油")
    payment_id = donation.provider_payment_id
    assert payment_id
    assert payment_id.startswith("pi_")
    assert urlsplit(redirect_url).path == f"/donate/{donation.id}/pay"

    intent = stripe_client().v1.payment_intents.retrieve(payment_id)
    assert (intent.amount, intent.currency) == (12_345, "cny")
    assert intent.metadata.to_dict() == {"campaign_id": str(campaign.id), "donation_id": str(donation.id)}

    page = app.test_client().get(redirect_url)
    assert page.status_code == 200
    assert "Stripe Elements" in page.get_data(as_text=True)  # honest: no publishable key, no card form

    assert pay_with_card(payment_id).status == "succeeded"
    since = datetime.now(UTC) - timedelta(minutes=5)
    listed = {p.provider_payment_id: p for p in get_provider().list_payments(since)}
    assert listed[payment_id].status == "succeeded"
    assert (listed[payment_id].amount_fen, listed[payment_id].currency, listed[payment_id].refunded_fen) == (
        12_345,
        "CNY",
        0,
    )
    assert listed[payment_id].fee_fen == 0  # localstripe charges no fee

    # No webhook yet: reconciliation sees the provider ahead of us.
    report = reconcile(get_provider(), since)
    assert [(d.kind, d.donation_id) for d in report.differences] == [("status_mismatch", donation.id)]

    # The success event, in localstripe's own shape for this intent, signed as Stripe signs.
    body, headers = signed_event(
        "payment_intent.succeeded", stripe_client().v1.payment_intents.retrieve(payment_id).to_dict()
    )
    assert (
        app.test_client().post("/payments/webhooks/stripe", data=body, headers=headers).json["result"]
        == "recorded"
    )
    assert reconcile(get_provider(), since).clean

    refund_row = service.refund_donation(
        db.session.get(Donation, donation.id), 2_000, staff, "the donor asked"
    )
    assert refund_row.provider_refund_id
    assert refund_row.provider_refund_id.startswith("re_")
    assert refund_row.status == "requested"  # the ledger waits for the provider's event
    refund = stripe_client().v1.refunds.retrieve(refund_row.provider_refund_id)
    assert refund.amount == 2_000
    assert refund.metadata["aidbridge_refund_key"] == refund_row.idempotency_key
    listed = {p.provider_payment_id: p for p in get_provider().list_payments(since)}
    assert listed[payment_id].refunded_fen == 2_000
    differences = reconcile(get_provider(), since).differences
    assert [d.kind for d in differences] == ["amount_mismatch"]
    assert "refunded" in differences[0].detail

    body, headers = signed_event("refund.created", refund.to_dict())
    assert app.test_client().post("/payments/webhooks/stripe", data=body, headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(DonationRefund, refund_row.id).status == "succeeded"  # type: ignore[union-attr]
    assert db.session.get(Donation, donation.id).refunded_fen == 2_000  # type: ignore[union-attr]
    assert reconcile(get_provider(), since).clean


def test_the_same_donation_key_reuses_the_payment(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    first, _ = service.start_donation(
        campaign, None, 1_000, idempotency_key="double-click-1", guest_scope="guest-a"
    )
    again, _ = service.start_donation(
        campaign, None, 1_000, idempotency_key="double-click-1", guest_scope="guest-a"
    )
    assert again.provider_payment_id == first.provider_payment_id


def test_localstripe_webhooks_reach_the_served_app(app: Flask, served: str, localstripe: str) -> None:
    response = requests.post(
        f"{localstripe}/_config/webhooks/aidbridge",
        data={"url": f"{served}/payments/webhooks/stripe", "secret": SECRET},
        timeout=10,
    )
    assert response.status_code == 200
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    paid, _ = service.start_donation(campaign, None, 5_000)
    declined, _ = service.start_donation(campaign, None, 6_000)
    paid_id, declined_id = paid.id, declined.id
    pay_with_card(paid.provider_payment_id)
    with pytest.raises(stripe.CardError):
        pay_with_card(declined.provider_payment_id, number="4000000000000341")
    db.session.rollback()

    # localstripe signs and POSTs payment_intent.succeeded / payment_failed about a second later.
    wait_until(lambda: db.session.get(Donation, paid_id).status == "succeeded")  # type: ignore[union-attr]
    wait_until(lambda: db.session.get(Donation, declined_id).status == "failed")  # type: ignore[union-attr]
    assert service.raised_fen(campaign.id) == 5_000
    assert service.check_donations()[1] == []
    db.session.rollback()


def test_a_refund_made_in_stripes_dashboard_posts_from_charge_refunded_alone(app: Flask) -> None:
    """On current API versions `charge.refunded` lists no refunds. An endpoint that receives only it (no
    `refund.*` events enabled) still posts a refund made in Stripe's dashboard: the refunds are fetched from
    the API and posted by id, once however often the event comes."""
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, 10_000)
    donation_id, payment_id = donation.id, donation.provider_payment_id
    pay_with_card(payment_id)
    body, headers = signed_event(
        "payment_intent.succeeded", stripe_client().v1.payment_intents.retrieve(payment_id).to_dict()
    )
    assert app.test_client().post("/payments/webhooks/stripe", data=body, headers=headers).status_code == 200

    # Made at Stripe, not through Aidbridge: no metadata of ours.
    made = stripe_client().v1.refunds.create(params={"payment_intent": payment_id, "amount": 3_000})
    intent = stripe_client().v1.payment_intents.retrieve(payment_id)
    latest = intent.latest_charge
    charge = stripe_client().v1.charges.retrieve(latest if isinstance(latest, str) else latest.id).to_dict()
    charge.pop("refunds", None)  # the current API version's shape
    charge["amount_refunded"] = 3_000
    for attempt in range(2):
        body, headers = signed_event("charge.refunded", charge)
        answer = app.test_client().post("/payments/webhooks/stripe", data=body, headers=headers)
        assert answer.status_code == 200
        if attempt == 0:
            assert "fetching the refunds" in answer.json["result"]

    db.session.expire_all()
    stored = db.session.get(Donation, donation_id)
    assert stored is not None
    assert stored.refunded_fen == 3_000
    refunds = db.session.query(DonationRefund).filter_by(donation_id=donation_id).all()
    assert [(r.provider_refund_id, r.amount_fen, r.status) for r in refunds] == [
        (made.id, 3_000, "succeeded")
    ]
    assert service.check_donations()[1] == []
