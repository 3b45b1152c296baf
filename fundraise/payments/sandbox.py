"""The sandbox provider: the embedded default when there are no Stripe keys. No real money moves.

It keeps its own records (SandboxPayment, SandboxRefund) as a provider would, serves a local checkout page
(/sandbox/checkout/<payment_id>, labelled "SANDBOX — no real money") whose buttons succeed or decline the
payment, and reports every outcome as an event signed in Stripe's scheme (HMAC-SHA256, `t=...,v1=...`) with a
secret derived from SECRET_KEY. Each event is handed in-process to the same service the webhook endpoint
calls, after the same signature check, so a sandbox donation is recorded by exactly the code path a Stripe one
is.

The webhook service is handed to the provider by the app factory (`connect`), since an adapter never
imports the services above it.

Event shape (the sandbox's own): {"id": "sbevt_…", "type": "payment.succeeded", "created": <unix>,
"data": {"payment": {...}, "refund": {...}, "dispute": {...}}}.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Donation, SandboxPayment, SandboxRefund
from fundraise.models.donations import SandboxPaymentStatus
from fundraise.payments import signing
from fundraise.payments.provider import (
    CreatedPayment,
    DisputeInfo,
    EventKind,
    MalformedEvent,
    ProviderError,
    ProviderEvent,
    ProviderPayment,
    RefundInfo,
    event_json,
)
from fundraise.unit_of_work import transactional

SIGNATURE_HEADER = "Aidbridge-Sandbox-Signature"
EVENT_KINDS = {
    "payment.succeeded": EventKind.PAYMENT_SUCCEEDED,
    "payment.processing": EventKind.PAYMENT_PROCESSING,
    "payment.failed": EventKind.PAYMENT_FAILED,
    "payment.canceled": EventKind.PAYMENT_CANCELED,
    "refund.updated": EventKind.REFUND_UPDATED,
    "dispute.opened": EventKind.DISPUTE_OPENED,
    "dispute.closed": EventKind.DISPUTE_CLOSED,
}


# What a delivery is handed to: the webhook service's `receive_webhook(provider, raw body, headers)`.
Receiver = Callable[["SandboxProvider", bytes, Mapping[str, str]], str]


# The failure the sandbox's "decline" button reports: a code, put in words by donate/presenters.py
# `payment_failure_text` in the reader's language.
SANDBOX_DECLINED = "@sandbox-declined"


class SandboxProvider:
    """Each of its actions is a unit of work of its own: the sandbox's record of the payment (the provider's
    side) and the event it delivers (our side, a nested unit) are stored together."""

    name = "sandbox"

    def __init__(self, *, secret: bytes, fee_bps: int = 0, tolerance: int = 300) -> None:
        self.secret = secret
        self.fee_bps = fee_bps
        self.tolerance = tolerance
        self.receiver: Receiver | None = None

    def connect(self, receiver: Receiver) -> None:
        """Hand every event this provider makes to `receiver`, as the webhook endpoint would."""
        self.receiver = receiver

    # --- the provider port -------------------------------------------------------------------------------

    @transactional
    def create_payment(self, donation: Donation, return_url: str) -> CreatedPayment:
        payment = db.session.scalar(
            select(SandboxPayment).where(SandboxPayment.idempotency_key == donation.idempotency_key)
        )
        if payment is None:
            payment = SandboxPayment(
                id=f"sbpi_{secrets.token_hex(12)}",
                idempotency_key=donation.idempotency_key,
                donation_id=donation.id,
                campaign_id=donation.campaign_id,
                amount_fen=donation.amount_fen,
                currency=donation.currency,
                return_url=return_url[:500],
            )
            db.session.add(payment)
            db.session.flush()
        return CreatedPayment(payment.id, url_for("sandbox.checkout", payment_id=payment.id))

    @transactional
    def refund(self, provider_payment_id: str, amount_fen: int, idempotency_key: str) -> str:
        existing: SandboxRefund | None = db.session.scalar(
            select(SandboxRefund).where(SandboxRefund.idempotency_key == idempotency_key)
        )
        if existing is not None:
            return existing.id
        payment = self._payment(provider_payment_id)
        if payment.status != SandboxPaymentStatus.SUCCEEDED:
            raise ProviderError("sandbox: only a succeeded payment can be refunded")
        if amount_fen <= 0 or amount_fen > payment.amount_fen - payment.refunded_fen:
            raise ProviderError("sandbox: the refund is larger than what is left of the payment")
        refund = SandboxRefund(
            id=f"sbre_{secrets.token_hex(12)}",
            idempotency_key=idempotency_key,
            payment_id=payment.id,
            amount_fen=amount_fen,
        )
        payment.refunded_fen += amount_fen
        db.session.add(refund)
        db.session.flush()
        self.deliver(
            self.event(
                "refund.updated",
                payment,
                refund={
                    "id": refund.id,
                    "amount_fen": amount_fen,
                    "status": "succeeded",
                    "request_key": idempotency_key,
                },
            )
        )
        return refund.id

    def list_payments(self, since: datetime) -> Iterator[ProviderPayment]:
        rows = db.session.scalars(
            select(SandboxPayment)
            .where(SandboxPayment.created_at >= since)
            .order_by(SandboxPayment.created_at)
        )
        for payment in rows:
            yield ProviderPayment(
                provider_payment_id=payment.id,
                amount_fen=payment.amount_fen,
                currency=payment.currency,
                status=payment.status,
                refunded_fen=payment.refunded_fen,
                disputed=payment.disputed,
                created_at=payment.created_at,
                fee_fen=payment.fee_fen if payment.status == SandboxPaymentStatus.SUCCEEDED else None,
                donation_id=payment.donation_id,
            )

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signing.verify(self.secret, raw_body, headers.get(SIGNATURE_HEADER), self.tolerance)
        return self.event_from_payload(event_json(raw_body))

    def event_from_payload(self, payload: dict[str, Any]) -> ProviderEvent:
        if not isinstance(payload, dict):
            raise MalformedEvent("the event is not an object")
        event_id, event_type = payload.get("id"), payload.get("type")
        data = payload.get("data")
        if (
            not isinstance(event_id, str)
            or not event_id
            or not isinstance(event_type, str)
            or not isinstance(data, dict)
        ):
            raise MalformedEvent("the event needs id, type and data")
        kind = EVENT_KINDS.get(event_type, EventKind.IGNORED)
        base: dict[str, Any] = {
            "provider": self.name,
            "event_id": event_id[:255],
            "type": event_type[:64],
            "kind": kind,
            "payload": payload,
        }
        if kind == EventKind.IGNORED:
            return ProviderEvent(**base)
        payment = data.get("payment")
        if not isinstance(payment, dict):
            raise MalformedEvent("the event has no payment")
        fields: dict[str, Any] = {
            "payment_id": _text(payment, "id"),
            "donation_id": payment.get("donation_id")
            if isinstance(payment.get("donation_id"), int)
            else None,
            "amount_fen": _fen(payment, "amount_fen"),
            "currency": _text(payment, "currency").upper(),
            "failure_reason": str(payment.get("failure_reason") or "")[:255],
        }
        if kind == EventKind.PAYMENT_SUCCEEDED and payment.get("fee_fen") is not None:
            fields["fee_fen"] = _fen(payment, "fee_fen")
        if kind == EventKind.REFUND_UPDATED:
            refund = data.get("refund")
            if not isinstance(refund, dict):
                raise MalformedEvent("a refund event has no refund")
            key = refund.get("request_key")
            fields["refunds"] = (
                RefundInfo(
                    _text(refund, "id"),
                    _fen(refund, "amount_fen"),
                    _text(refund, "status"),
                    key if isinstance(key, str) else None,
                ),
            )
        if kind in (EventKind.DISPUTE_OPENED, EventKind.DISPUTE_CLOSED):
            dispute = data.get("dispute")
            if not isinstance(dispute, dict):
                raise MalformedEvent("a dispute event has no dispute")
            fields["dispute"] = DisputeInfo(
                _text(dispute, "id"), _fen(dispute, "amount_fen"), _text(dispute, "status")
            )
        return ProviderEvent(**base, **fields)

    def fetch_refunds_event(self, provider_payment_id: str, source_event_id: str) -> ProviderEvent | None:
        return None  # every sandbox refund has its own event

    # --- what the checkout page and the demo do ----------------------------------------------------------

    def payment(self, payment_id: str) -> SandboxPayment | None:
        return db.session.get(SandboxPayment, payment_id)

    @transactional
    def pay(self, payment_id: str) -> str:
        """The donor pressed "Pay (succeeds)". A second press changes nothing and sends nothing."""
        payment = self._payment(payment_id)
        if payment.status == SandboxPaymentStatus.SUCCEEDED:
            return "already paid"
        payment.status = SandboxPaymentStatus.SUCCEEDED
        # Rounded down to the fen: the fee never takes more than the stated rate.
        payment.fee_fen = payment.amount_fen * self.fee_bps // 10_000
        db.session.flush()
        return self.deliver(self.event("payment.succeeded", payment))

    @transactional
    def decline(self, payment_id: str) -> str:
        """The donor pressed "Decline (fails)". The donor may still pay afterwards, as with a second card."""
        payment = self._payment(payment_id)
        if payment.status != SandboxPaymentStatus.REQUIRES_PAYMENT:
            return f"already {payment.status}"
        payment.status = SandboxPaymentStatus.FAILED
        db.session.flush()
        return self.deliver(self.event("payment.failed", payment, failure_reason=SANDBOX_DECLINED))

    @transactional
    def open_dispute(self, payment_id: str, amount_fen: int | None = None) -> tuple[str, str]:
        """A bank disputes the payment and the money is withdrawn (demo and tests)."""
        payment = self._payment(payment_id)
        dispute_id = f"sbdp_{secrets.token_hex(12)}"
        payment.disputed = True
        db.session.flush()
        amount = payment.amount_fen - payment.refunded_fen if amount_fen is None else amount_fen
        result = self.deliver(
            self.event(
                "dispute.opened",
                payment,
                dispute={"id": dispute_id, "amount_fen": amount, "status": "needs_response"},
            )
        )
        return dispute_id, result

    @transactional
    def close_dispute(self, payment_id: str, dispute_id: str, amount_fen: int, *, won: bool) -> str:
        payment = self._payment(payment_id)
        payment.disputed = not won
        db.session.flush()
        status = "won" if won else "lost"
        return self.deliver(
            self.event(
                "dispute.closed",
                payment,
                dispute={"id": dispute_id, "amount_fen": amount_fen, "status": status},
            )
        )

    def event(self, event_type: str, payment: SandboxPayment, **parts: Any) -> dict[str, Any]:
        """An event payload about this payment (and a refund or dispute, when given)."""
        failure_reason = parts.pop("failure_reason", "")
        data: dict[str, Any] = {
            "payment": {
                "id": payment.id,
                "amount_fen": payment.amount_fen,
                "currency": payment.currency,
                "status": payment.status,
                "fee_fen": payment.fee_fen,
                "refunded_fen": payment.refunded_fen,
                "donation_id": payment.donation_id,
                "campaign_id": payment.campaign_id,
                "failure_reason": failure_reason,
            }
        }
        data.update(parts)
        return {
            "id": f"sbevt_{secrets.token_hex(12)}",
            "type": event_type,
            "created": int(time.time()),
            "data": data,
        }

    def signed(self, payload: dict[str, Any], timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers the sandbox would POST to a webhook endpoint."""
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return body, {
            SIGNATURE_HEADER: signing.signature_header(self.secret, body, timestamp),
            "Content-Type": "application/json",
        }

    def deliver(self, payload: dict[str, Any]) -> str:
        """Sign the event and hand it to the webhook service in-process: verified and handled exactly as a
        POST to /payments/webhooks/sandbox would be. Returns what processing did."""
        if self.receiver is None:
            raise RuntimeError("the sandbox provider is not connected to the webhook service (see connect)")
        body, headers = self.signed(payload)
        return self.receiver(self, body, headers)

    def _payment(self, payment_id: str) -> SandboxPayment:
        query = select(SandboxPayment).where(SandboxPayment.id == payment_id)
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        payment: SandboxPayment | None = db.session.scalar(query)
        if payment is None:
            raise ProviderError("sandbox: no such payment")
        return payment


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise MalformedEvent(f"{key} is missing or not a string")
    return value


def _fen(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**13:
        raise MalformedEvent(f"{key} is missing or not a whole number of fen")
    return value
