"""The Stripe adapter against a small contract server on loopback, for what localstripe does not do: the
Idempotency-Key on every creating call and Stripe's replay of the first response for a repeated key,
`allowed_payment_method_types`, cursor pagination of the charge listing with expanded fees, and failures
(which become ProviderError, never a recorded payment)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from flask import Flask

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import AccountKind, Donation
from fundraise.payments import get_provider
from fundraise.payments.provider import ProviderError
from fundraise.services import donations as service
from fundraise.services.reconciliation import reconcile
from tests.factories import CampaignFactory

SECRET = "whsec_contract"


class ContractServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.replies: dict[str, tuple[str, dict[str, Any]]] = {}  # idempotency key -> (body, response)
        self.charges: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: ContractServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw).items()}
        key = self.headers.get("Idempotency-Key")
        with self.server.lock:
            self.server.requests.append(
                {"path": self.path, "form": form, "key": key, "auth": self.headers.get("Authorization")}
            )
            if self.server.fail_next:
                self.server.fail_next -= 1
                return self._send(500, {"error": {"type": "api_error", "message": "contract server failure"}})
            if key in self.server.replies:
                body, reply = self.server.replies[key]
                if body != raw:
                    return self._send(
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                            }
                        },
                    )
                return self._send(200, reply, {"Idempotent-Replayed": "true"})
            n = len(self.server.replies) + 1
            if self.path == "/v1/payment_intents":
                reply = {
                    "id": f"pi_contract{n}",
                    "object": "payment_intent",
                    "amount": int(form["amount"]),
                    "currency": form["currency"],
                    "status": "requires_payment_method",
                    "client_secret": f"pi_contract{n}_secret_x",
                    "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                }
            elif self.path == "/v1/refunds":
                reply = {
                    "id": f"re_contract{n}",
                    "object": "refund",
                    "amount": int(form["amount"]),
                    "payment_intent": form["payment_intent"],
                    "status": "succeeded",
                    "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                }
            else:
                return self._send(
                    404, {"error": {"type": "invalid_request_error", "message": "no such route"}}
                )
            if key:
                self.server.replies[key] = (raw, reply)
            return self._send(200, reply)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.server.lock:
            self.server.requests.append({"path": parts.path, "query": query})
        if parts.path != "/v1/charges":
            return self._send(404, {"error": {"type": "invalid_request_error", "message": "no such route"}})
        charges = [c for c in self.server.charges if c["created"] > int(query.get("created[gt]", 0))]
        if "starting_after" in query:
            index = next(i for i, c in enumerate(charges) if c["id"] == query["starting_after"])
            charges = charges[index + 1 :]
        page = charges[:2]  # small pages, whatever the limit, so the adapter must follow the cursor
        expand = query.get("expand[0]") == "data.balance_transaction"
        data = [
            {
                **c,
                "balance_transaction": {"id": f"txn_{c['id']}", "fee": c["fee"]}
                if expand
                else f"txn_{c['id']}",
            }
            for c in page
        ]
        return self._send(
            200, {"object": "list", "url": "/v1/charges", "has_more": len(charges) > 2, "data": data}
        )


@pytest.fixture(scope="module")
def contract() -> Iterator[ContractServer]:
    server = ContractServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def app_settings(contract: ContractServer) -> dict[str, Any]:
    contract.requests.clear()
    contract.charges.clear()
    return {
        "PAYMENTS_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_contract",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": f"http://127.0.0.1:{contract.server_address[1]}",
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "STRIPE_PAYMENT_METHOD_TYPES": ("card", "alipay", "wechat_pay"),
    }


def posts(contract: ContractServer, path: str) -> list[dict[str, Any]]:
    return [r for r in contract.requests if r["path"] == path and "form" in r]


def test_create_payment_sends_fen_metadata_methods_and_the_donations_key(
    app: Flask, contract: ContractServer
) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    client_key = f"donation-{uuid.uuid4().hex}"
    donation, _url = service.start_donation(
        campaign, None, 8_800, idempotency_key=client_key, guest_scope="guest-a"
    )
    [request] = posts(contract, "/v1/payment_intents")
    assert request["key"] == donation.idempotency_key
    assert request["auth"] == "Bearer sk_test_contract"
    assert request["form"]["amount"] == "8800"
    assert request["form"]["currency"] == "cny"
    assert request["form"]["metadata[donation_id]"] == str(donation.id)
    assert request["form"]["metadata[campaign_id]"] == str(campaign.id)
    assert [request["form"][f"allowed_payment_method_types[{i}]"] for i in range(3)] == [
        "card",
        "alipay",
        "wechat_pay",
    ]

    # A retried start (same client key) repeats the call with the same key; Stripe replays the same intent.
    again, _url = service.start_donation(
        campaign, None, 8_800, idempotency_key=client_key, guest_scope="guest-a"
    )
    assert [r["key"] for r in posts(contract, "/v1/payment_intents")] == [donation.idempotency_key] * 2
    assert again.provider_payment_id == donation.provider_payment_id


def test_refunds_carry_their_key_and_a_repeat_gets_the_same_refund(
    app: Flask, contract: ContractServer
) -> None:
    provider = get_provider()
    first = provider.refund("pi_contract_x", 1_500, "refund-key-1")
    again = provider.refund("pi_contract_x", 1_500, "refund-key-1")
    assert first == again
    requests = posts(contract, "/v1/refunds")
    assert [r["key"] for r in requests] == ["refund-key-1", "refund-key-1"]
    assert requests[0]["form"]["metadata[aidbridge_refund_key]"] == "refund-key-1"
    with pytest.raises(ProviderError, match="idempotent"):
        provider.refund("pi_contract_x", 1_600, "refund-key-1")  # the same key for a different refund


def test_a_provider_failure_is_a_clear_error_and_no_payment(app: Flask, contract: ContractServer) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    contract.fail_next = 1
    with pytest.raises(ProviderError) as failed:
        service.start_donation(campaign, None, 1_000)
    assert failed.value.status == 502
    donation = db.session.scalar(db.select(Donation))
    assert donation is not None
    assert donation.status == "failed"
    assert donation.provider_payment_id is None
    assert ledger.find_transaction(f"donation:{donation.id}:captured") is None


def test_listing_follows_the_cursor_groups_retries_and_reads_fees(
    app: Flask, contract: ContractServer
) -> None:
    now = int(datetime.now(UTC).timestamp())
    base = {
        "object": "charge",
        "currency": "cny",
        "captured": True,
        "amount_refunded": 0,
        "disputed": False,
        "metadata": {},
    }
    contract.charges.extend(
        [
            {
                **base,
                "id": "ch_1",
                "payment_intent": "pi_a",
                "amount": 1_000,
                "status": "failed",
                "created": now - 50,
                "fee": 0,
            },
            {
                **base,
                "id": "ch_2",
                "payment_intent": "pi_a",
                "amount": 1_000,
                "status": "succeeded",
                "created": now - 40,
                "fee": 36,
            },
            {
                **base,
                "id": "ch_3",
                "payment_intent": "pi_b",
                "amount": 2_000,
                "status": "succeeded",
                "created": now - 30,
                "fee": 72,
                "amount_refunded": 500,
            },
            {
                **base,
                "id": "ch_4",
                "payment_intent": "pi_c",
                "amount": 3_000,
                "status": "pending",
                "created": now - 20,
                "fee": 0,
            },
            {
                **base,
                "id": "ch_old",
                "payment_intent": "pi_old",
                "amount": 9_000,
                "status": "succeeded",
                "created": now - 86_400,
                "fee": 0,
            },
        ]
    )
    listed = {
        p.provider_payment_id: p for p in get_provider().list_payments(datetime.now(UTC) - timedelta(hours=1))
    }
    assert sorted(listed) == ["pi_a", "pi_b", "pi_c"]
    assert listed["pi_a"].status == "succeeded"
    assert listed["pi_a"].fee_fen == 36
    assert listed["pi_b"].refunded_fen == 500
    assert listed["pi_c"].status == "pending"
    gets = [r for r in contract.requests if r["path"] == "/v1/charges"]
    assert len(gets) == 2
    assert gets[1]["query"]["starting_after"] == "ch_2"
    assert "created[gt]" in gets[0]["query"]


def test_reconciliation_posts_the_fees_stripe_reports_once(
    app: Flask, contract: ContractServer, client: Any
) -> None:
    campaign = CampaignFactory(state="fundraising", target_fen=1_000_000)
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, 5_000)
    payment_id = donation.provider_payment_id
    body = json.dumps(
        {
            "id": "evt_contract_1",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": payment_id,
                    "amount": 5_000,
                    "amount_received": 5_000,
                    "currency": "cny",
                    "metadata": {},
                }
            },
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    assert (
        client.post("/payments/webhooks/stripe", data=body, headers={"Stripe-Signature": header}).status_code
        == 200
    )
    now = int(datetime.now(UTC).timestamp())
    contract.charges.append(
        {
            "id": "ch_fee",
            "object": "charge",
            "payment_intent": payment_id,
            "amount": 5_000,
            "currency": "cny",
            "status": "succeeded",
            "captured": True,
            "amount_refunded": 0,
            "disputed": False,
            "created": now,
            "fee": 180,
            "metadata": {},
        }
    )
    since = datetime.now(UTC) - timedelta(hours=1)
    first = reconcile(get_provider(), since)
    assert [d.detail for d in first.differences] == ["fee: provider 180 fen, ledger 0 fen"]
    assert reconcile(get_provider(), since, post_fees=True).fees_posted == 1
    assert reconcile(get_provider(), since, post_fees=True).fees_posted == 0
    assert reconcile(get_provider(), since).clean
    assert ledger.balance(ledger.account(AccountKind.PROCESSOR_FEES)) == 180
    assert ledger.balance(ledger.campaign_fund(campaign.id)) == 4_820
