"""The payment provider port: what Aidbridge needs from a provider, and the plain data that crosses it.

Two adapters implement it, chosen by PAYMENTS_PROVIDER: `stripe_provider.StripeProvider` (production) and
`sandbox.SandboxProvider` (the embedded default). Services see only this protocol and these dataclasses.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from fundraise.errors import DomainError

if TYPE_CHECKING:
    from fundraise.models import Donation


class InvalidSignature(Exception):
    """A webhook whose signature is missing, wrong, or older than the tolerance window."""


class MalformedEvent(Exception):
    """A correctly signed webhook whose body is not an event we can read."""


def event_json(raw_body: bytes) -> dict[str, Any]:
    """A verified webhook body read as the JSON object an event is; MalformedEvent otherwise (not JSON, nested
    too deeply for the parser, or not an object). Both adapters read their bodies with it."""
    try:
        payload = json.loads(raw_body)
    except (ValueError, RecursionError) as error:
        raise MalformedEvent("the body is not JSON (or is nested too deeply)") from error
    if not isinstance(payload, dict):
        raise MalformedEvent("the event is not an object")
    return payload


class ProviderError(DomainError):
    """The provider could not be reached or refused a call; nothing was recorded as paid or refunded."""

    status = 502


class EventKind(enum.StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_PROCESSING = "payment_processing"  # a delayed method (bank debit, voucher) is under way
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_CANCELED = "payment_canceled"
    REFUND_UPDATED = "refund_updated"  # one or more refunds with their ids and states
    REFUND_SUMMARY = "refund_summary"  # only a cumulative refunded total (no refund ids): noted, not posted
    DISPUTE_OPENED = "dispute_opened"  # also "funds withdrawn"
    DISPUTE_CLOSED = "dispute_closed"
    DISPUTE_FUNDS_REINSTATED = "dispute_funds_reinstated"
    IGNORED = "ignored"  # a type we do not act on: acknowledged and stored


@dataclass(frozen=True)
class RefundInfo:
    refund_id: str
    amount_fen: int
    # pending | succeeded | failed | canceled | requires_action (Stripe's refund states)
    status: str
    # The idempotency key we sent when we asked for the refund (carried back in the refund's metadata).
    request_key: str | None = None


@dataclass(frozen=True)
class DisputeInfo:
    dispute_id: str
    amount_fen: int
    # Stripe's dispute states: warning_needs_response, warning_under_review, warning_closed (inquiries, no
    # money moves), needs_response, under_review, won, lost.
    status: str

    @property
    def is_inquiry(self) -> bool:
        return self.status.startswith("warning_")


@dataclass(frozen=True)
class ProviderEvent:
    """A verified event, mapped from the provider's own shape."""

    provider: str
    event_id: str
    type: str  # the provider's own type, e.g. "payment_intent.succeeded"
    kind: EventKind
    payload: dict[str, Any]
    payment_id: str | None = None
    donation_id: int | None = None  # from the payment's metadata, when present
    amount_fen: int | None = None
    currency: str | None = None  # upper case, "CNY"
    fee_fen: int | None = None  # the provider's fee, when the event carries it
    failure_reason: str = ""
    refunds: tuple[RefundInfo, ...] = ()
    refunded_total_fen: int | None = None
    dispute: DisputeInfo | None = None


@dataclass(frozen=True)
class CreatedPayment:
    provider_payment_id: str
    redirect_url: str  # where the donor goes to pay
    client_secret: str | None = None  # for a client-side payment form (Stripe Elements)


@dataclass(frozen=True)
class ProviderPayment:
    """The provider's record of one payment, for reconciliation."""

    provider_payment_id: str
    amount_fen: int
    currency: str
    status: str  # succeeded | pending | failed | canceled | requires_payment
    refunded_fen: int
    disputed: bool
    created_at: datetime
    fee_fen: int | None = None
    donation_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, donation: Donation, return_url: str) -> CreatedPayment:
        """Create the payment for a stored donation, with the donation's idempotency key."""
        ...

    def refund(self, provider_payment_id: str, amount_fen: int, idempotency_key: str) -> str:
        """Ask for a refund; returns the provider's refund id. The ledger waits for the refund's event."""
        ...

    def list_payments(self, since: datetime) -> Iterator[ProviderPayment]:
        """Every payment the provider holds that was created at or after `since`."""
        ...

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verify the signature over the raw body (raises InvalidSignature) and map the event
        (raises MalformedEvent)."""
        ...

    def event_from_payload(self, payload: dict[str, Any]) -> ProviderEvent:
        """Map an already verified payload (a stored event being replayed)."""
        ...

    def fetch_refunds_event(self, provider_payment_id: str, source_event_id: str) -> ProviderEvent | None:
        """An event listing every refund the provider holds for the payment, fetched from its API, for when an
        event announced refunds without listing them (Stripe's `charge.refunded` on current API versions). Its
        payload maps back to the same event through `event_from_payload`; its id derives from the announcing
        event's, so fetching twice posts nothing twice. None when the provider's events always list them."""
        ...
