"""The payment behind every donation: the provider it goes through, and the donation's status as that
payment moves (each move written to the audit log)."""

from __future__ import annotations

from fundraise import audit
from fundraise.models import Donation, DonationStatus
from fundraise.payments import get_provider
from fundraise.payments.provider import PaymentProvider


def provider() -> PaymentProvider:
    """The payment provider the app is configured with (Stripe, or the sandbox)."""

    return get_provider()


def set_status(donation: Donation, target: DonationStatus, reason: str = "") -> None:
    """Move the donation to `target` and write the move to the audit log; callers check the move is forward."""
    before = donation.status
    donation.status = target
    if target in (DonationStatus.FAILED, DonationStatus.CANCELED):
        donation.failure_reason = (reason or "")[:255]
    audit.record(
        f"donation.{target}",
        "donation",
        donation.id,
        actor=None,
        before={"status": before},
        after={"status": target, "reason": reason},
    )
