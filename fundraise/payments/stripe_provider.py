"""The Stripe adapter: PaymentIntents in CNY (amounts in fen), refunds, a charge listing for reconciliation, and
webhooks verified with the Stripe SDK.

One `stripe.StripeClient` per app, holding its own key; nothing sets `stripe.api_key`. Every call that creates
something at Stripe carries an idempotency key, so a retry never makes a second payment or refund.

Refund events: `refund.created|updated|failed` (and the older `charge.refund.updated`) carry the refund's id
and state and are what the ledger posts. `charge.refunded` carries the refunds only on older API versions; when
it does, each refund is handled by id (the same idempotency keys, so no double posting); when it carries only
the cumulative `amount_refunded` (current API versions) and that differs from the ledger, the refunds are
fetched from the API by a job (`fetch_refunds_event`) and posted by id in the same way, so a refund made in
Stripe's dashboard posts even when the endpoint does not receive `refund.*` events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import stripe
from flask import url_for

from fundraise.models import Donation
from fundraise.payments.links import donation_token
from fundraise.payments.provider import (
    CreatedPayment,
    DisputeInfo,
    EventKind,
    InvalidSignature,
    MalformedEvent,
    ProviderError,
    ProviderEvent,
    ProviderPayment,
    RefundInfo,
    event_json,
)

PAYMENT_EVENTS = {
    "payment_intent.succeeded": EventKind.PAYMENT_SUCCEEDED,
    "payment_intent.processing": EventKind.PAYMENT_PROCESSING,
    "payment_intent.payment_failed": EventKind.PAYMENT_FAILED,
    "payment_intent.canceled": EventKind.PAYMENT_CANCELED,
}
REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
DISPUTE_EVENTS = {
    "charge.dispute.created": EventKind.DISPUTE_OPENED,
    "charge.dispute.funds_withdrawn": EventKind.DISPUTE_OPENED,
    "charge.dispute.closed": EventKind.DISPUTE_CLOSED,
    "charge.dispute.funds_reinstated": EventKind.DISPUTE_FUNDS_REINSTATED,
}
CHARGE_STATUS = {"succeeded": "succeeded", "pending": "pending", "failed": "failed"}


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        payment_method_types: tuple[str, ...] = (),
        timeout: float = 20,
        max_network_retries: int = 2,
        tolerance: int = 300,
    ) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self.webhook_secret = webhook_secret
        self.payment_method_types = list(payment_method_types)
        self.tolerance = tolerance

    # --- calls to Stripe ---------------------------------------------------------------------------------

    def create_payment(self, donation: Donation, return_url: str) -> CreatedPayment:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": donation.amount_fen,
            "currency": "cny",
            "metadata": {"campaign_id": str(donation.campaign_id), "donation_id": str(donation.id)},
        }
        if self.payment_method_types:
            # Without it, the methods enabled in the Stripe Dashboard apply (automatic payment methods).
            params["allowed_payment_method_types"] = self.payment_method_types
        try:
            intent = self.client.v1.payment_intents.create(
                params=params,
                options={"idempotency_key": donation.idempotency_key},
            )
        except stripe.StripeError as error:
            raise ProviderError(
                f"Stripe refused or could not create the payment: {_describe(error)}"
            ) from error
        # A Stripe-hosted page needs Stripe.js; our own page mounts Stripe Elements with the client secret.
        redirect = url_for(
            "payments.stripe_pay", donation_id=donation.id, t=donation_token(donation.id), next=return_url
        )
        return CreatedPayment(intent.id, redirect, intent.client_secret)

    def client_secret(self, provider_payment_id: str) -> str | None:
        """The PaymentIntent's client secret, for the payment page (never stored)."""
        try:
            intent = self.client.v1.payment_intents.retrieve(provider_payment_id)
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe could not be reached: {_describe(error)}") from error
        return intent.client_secret

    def refund(self, provider_payment_id: str, amount_fen: int, idempotency_key: str) -> str:
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": provider_payment_id,
                    "amount": amount_fen,
                    "metadata": {"aidbridge_refund_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe refused or could not make the refund: {_describe(error)}") from error
        return refund.id

    def list_payments(self, since: datetime) -> Iterator[ProviderPayment]:
        """Charges created at or after `since`, one record per PaymentIntent (a retried payment has several
        charges; the succeeded one stands for it). `created[gt]` is used, not `gte`, so localstripe serves it."""
        params: stripe.params.ChargeListParams = {
            "created": {"gt": int(since.timestamp()) - 1},
            "limit": 100,
            "expand": ["data.balance_transaction"],
        }
        by_intent: dict[str, ProviderPayment] = {}
        try:
            for charge in self.client.v1.charges.list(params=params).auto_paging_iter():
                payment = _payment_from_charge(charge.to_dict())
                held = by_intent.get(payment.provider_payment_id)
                if held is None or (held.status != "succeeded" and payment.status == "succeeded"):
                    by_intent[payment.provider_payment_id] = payment
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe could not list payments: {_describe(error)}") from error
        yield from by_intent.values()

    def fetch_refunds_event(self, provider_payment_id: str, source_event_id: str) -> ProviderEvent | None:
        """Every refund of the PaymentIntent, as a `charge.refunded` event in the older shape that lists them."""
        try:
            listed = [
                refund.to_dict()
                for refund in self.client.v1.refunds.list(
                    params={"payment_intent": provider_payment_id, "limit": 100}
                ).auto_paging_iter()
            ]
        except stripe.StripeError as error:
            raise ProviderError(f"Stripe could not list the refunds: {_describe(error)}") from error
        counted = [r for r in listed if r.get("status") in ("pending", "succeeded", "requires_action")]
        payload = {
            "id": f"{source_event_id}:refunds"[:255],
            "object": "event",
            "type": "charge.refunded",
            "data": {
                "object": {
                    "object": "charge",
                    "payment_intent": provider_payment_id,
                    "amount_refunded": sum(int(r.get("amount") or 0) for r in counted),
                    "refunds": {"object": "list", "data": listed},
                }
            },
        }
        return self.event_from_payload(payload)

    # --- webhooks ----------------------------------------------------------------------------------------

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signature = headers.get("Stripe-Signature")
        if not signature:
            raise InvalidSignature("no Stripe-Signature header")
        try:
            stripe.Webhook.construct_event(raw_body, signature, self.webhook_secret, tolerance=self.tolerance)
        except stripe.SignatureVerificationError as error:
            raise InvalidSignature(str(error)) from error
        except Exception as error:  # the signature held, so the body itself is not an event the SDK can read
            raise MalformedEvent(f"not a Stripe event: {type(error).__name__}") from error
        return self.event_from_payload(event_json(raw_body))

    def event_from_payload(self, payload: dict[str, Any]) -> ProviderEvent:
        if not isinstance(payload, dict):
            raise MalformedEvent("the event is not an object")
        event_id = _text(payload, "id")
        event_type = _text(payload, "type")
        data = payload.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise MalformedEvent("the event has no data.object")
        base: dict[str, Any] = {
            "provider": self.name,
            "event_id": event_id,
            "type": event_type,
            "payload": payload,
        }

        if event_type in PAYMENT_EVENTS:
            error = obj.get("last_payment_error") or {}
            reason = (
                (error.get("message") if isinstance(error, dict) else "")
                or obj.get("cancellation_reason")
                or ""
            )
            return ProviderEvent(
                kind=PAYMENT_EVENTS[event_type],
                payment_id=_text(obj, "id"),
                donation_id=_metadata_id(obj),
                # What was actually taken; localstripe omits amount_received, so fall back to the amount.
                amount_fen=_amount(
                    obj,
                    "amount_received"
                    if event_type.endswith("succeeded") and "amount_received" in obj
                    else "amount",
                ),
                currency=_text(obj, "currency").upper(),
                fee_fen=_fee_of_intent(obj),
                failure_reason=str(reason)[:255],
                **base,
            )
        if event_type in REFUND_EVENTS:
            return ProviderEvent(
                kind=EventKind.REFUND_UPDATED,
                payment_id=_optional_text(obj, "payment_intent"),
                refunds=(_refund(obj),),
                **base,
            )
        if event_type == "charge.refunded":
            refunds = obj.get("refunds")
            listed = refunds.get("data") if isinstance(refunds, dict) else None
            common: dict[str, Any] = {
                "payment_id": _optional_text(obj, "payment_intent"),
                "refunded_total_fen": _amount(obj, "amount_refunded"),
            }
            if isinstance(listed, list) and listed:
                return ProviderEvent(
                    kind=EventKind.REFUND_UPDATED, refunds=tuple(_refund(r) for r in listed), **common, **base
                )
            return ProviderEvent(kind=EventKind.REFUND_SUMMARY, **common, **base)
        if event_type in DISPUTE_EVENTS:
            return ProviderEvent(
                kind=DISPUTE_EVENTS[event_type],
                payment_id=_optional_text(obj, "payment_intent"),
                dispute=DisputeInfo(_text(obj, "id"), _amount(obj, "amount"), _text(obj, "status")),
                **base,
            )
        return ProviderEvent(kind=EventKind.IGNORED, **base)


# --- mapping helpers -------------------------------------------------------------------------------------


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise MalformedEvent(f"{key} is missing or not a string")
    return value


def _optional_text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if isinstance(value, dict):  # expanded
        value = value.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise MalformedEvent(f"{key} is not a string")
    return value


def _amount(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEvent(f"{key} is missing or not a whole number of fen")
    return value


def _metadata_id(obj: dict[str, Any]) -> int | None:
    metadata = obj.get("metadata")
    raw = metadata.get("donation_id") if isinstance(metadata, dict) else None
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 18:
        return int(raw)
    return None


def _fee_of_intent(obj: dict[str, Any]) -> int | None:
    """The fee, when the intent's latest charge and its balance transaction are expanded in the payload
    (Stripe sends ids only by default; reconciliation fetches fees then)."""
    charge = obj.get("latest_charge")
    transaction = charge.get("balance_transaction") if isinstance(charge, dict) else None
    fee = transaction.get("fee") if isinstance(transaction, dict) else None
    return fee if isinstance(fee, int) and not isinstance(fee, bool) and fee >= 0 else None


def _refund(obj: Any) -> RefundInfo:
    if not isinstance(obj, dict):
        raise MalformedEvent("a refund is not an object")
    metadata = obj.get("metadata")
    key = metadata.get("aidbridge_refund_key") if isinstance(metadata, dict) else None
    return RefundInfo(
        refund_id=_text(obj, "id"),
        amount_fen=_amount(obj, "amount"),
        status=_text(obj, "status"),
        request_key=key if isinstance(key, str) and len(key) <= 64 else None,
    )


def _payment_from_charge(charge: dict[str, Any]) -> ProviderPayment:
    transaction = charge.get("balance_transaction")
    fee = transaction.get("fee") if isinstance(transaction, dict) else None
    status = CHARGE_STATUS.get(str(charge.get("status")), str(charge.get("status")))
    if status == "succeeded" and charge.get("captured") is False:
        status = "pending"
    intent = charge.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return ProviderPayment(
        provider_payment_id=str(intent or charge["id"]),
        amount_fen=int(charge.get("amount") or 0),
        currency=str(charge.get("currency") or "").upper(),
        status=status,
        refunded_fen=int(charge.get("amount_refunded") or 0),
        disputed=bool(charge.get("disputed")),
        created_at=datetime.fromtimestamp(int(charge.get("created") or 0), UTC),
        fee_fen=fee if isinstance(fee, int) else None,
        donation_id=_metadata_id(charge),
        extra={"charge_id": charge.get("id")},
    )


def _describe(error: stripe.StripeError) -> str:
    return (getattr(error, "user_message", None) or str(error) or type(error).__name__)[:200]
