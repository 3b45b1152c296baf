"""Reconciliation: the provider's records of payments against the donations and the ledger.

Every difference is listed, none is "fixed" silently:
- missing_in_ledger: the provider took money for a payment we have no succeeded donation for (a lost webhook);
- missing_at_provider: a succeeded donation whose payment the provider does not list;
- status_mismatch: the provider and the donation disagree on whether it succeeded, or on a dispute;
- amount_mismatch: captured, refunded or (when the provider reports it) fee amounts differ.

With `post_fees`, fees the provider reports and the ledger lacks are posted (key `donation:{id}:fee`, the same
one the webhook uses, so never twice): Stripe's payment events carry no fee, so this is how Stripe fees reach
the ledger. That is the only write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from fundraise import audit, ledger
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import AccountKind, Donation, DonationStatus, TransactionKind
from fundraise.payments.provider import PaymentProvider, ProviderPayment
from fundraise.services.donations.custody import withdraw as _withdraw
from fundraise.unit_of_work import transactional, unit_of_work

DEFAULT_WINDOW = timedelta(days=2)  # the daily job looks back two days, so a late event is still seen


@dataclass(frozen=True)
class Difference:
    kind: str  # missing_in_ledger | missing_at_provider | status_mismatch | amount_mismatch
    provider_payment_id: str | None
    donation_id: int | None
    detail: str

    def __str__(self) -> str:
        who = f"donation {self.donation_id}" if self.donation_id is not None else "no donation"
        return f"{self.kind}: {self.provider_payment_id or '-'} ({who}): {self.detail}"


@dataclass(frozen=True)
class Report:
    since: datetime
    provider: str
    provider_payments: int
    donations: int
    differences: list[Difference]
    fees_posted: int = 0

    @property
    def clean(self) -> bool:
        return not self.differences


def reconcile(client: PaymentProvider, since: datetime | None = None, *, post_fees: bool = False) -> Report:
    """Compare the provider's payments created since `since` (default: two days ago) with our records."""
    since = since or datetime.now(UTC) - DEFAULT_WINDOW
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    payments = list(client.list_payments(since))
    # The provider was asked above, outside any transaction; comparing and posting fees is one unit.
    with unit_of_work():
        differences: list[Difference] = []
        fees_posted = 0
        seen: set[str] = set()
        for payment in payments:
            seen.add(payment.provider_payment_id)
            donation = db.session.scalar(
                select(Donation).where(
                    Donation.provider == client.name,
                    Donation.provider_payment_id == payment.provider_payment_id,
                )
            )
            found, posted = _compare(payment, donation, post_fees)
            differences.extend(found)
            fees_posted += posted
        ours = list(
            db.session.scalars(
                select(Donation)
                .where(
                    Donation.provider == client.name,
                    Donation.created_at >= since,
                    Donation.status == DonationStatus.SUCCEEDED,
                )
                .order_by(Donation.id)
            )
        )
        for donation in ours:
            if donation.provider_payment_id not in seen:
                differences.append(
                    Difference(
                        "missing_at_provider",
                        donation.provider_payment_id,
                        donation.id,
                        f"succeeded for {donation.amount_fen} fen here; the provider lists no such payment",
                    )
                )
    return Report(since, client.name, len(payments), len(ours), differences, fees_posted)


def _compare(
    payment: ProviderPayment, donation: Donation | None, post_fees: bool
) -> tuple[list[Difference], int]:
    pid = payment.provider_payment_id
    if donation is None:
        if payment.status == "succeeded":
            return [
                Difference(
                    "missing_in_ledger",
                    pid,
                    payment.donation_id,
                    f"the provider took {payment.amount_fen} fen; no donation here has this payment",
                )
            ], 0
        return [], 0  # an unpaid or failed attempt we never heard of moved no money
    found: list[Difference] = []

    def differ(kind: str, detail: str) -> None:
        found.append(Difference(kind, pid, donation.id, detail))

    provider_paid = payment.status == "succeeded"
    ours_paid = donation.status == DonationStatus.SUCCEEDED
    if provider_paid != ours_paid:
        differ("status_mismatch", f"provider {payment.status}, donation {donation.status}")
    if payment.currency and payment.currency != donation.currency:
        differ("amount_mismatch", f"currency: provider {payment.currency}, donation {donation.currency}")
    if provider_paid and ours_paid:
        captured = ledger.donation_total(donation.id, TransactionKind.CAPTURE, AccountKind.CAMPAIGN_FUND)
        if payment.amount_fen != captured:
            differ("amount_mismatch", f"captured: provider {payment.amount_fen} fen, ledger {captured} fen")
        refunded = ledger.donation_total(
            donation.id, TransactionKind.REFUND, AccountKind.REFUNDS
        ) + ledger.donation_total(donation.id, TransactionKind.REFUND_REVERSAL, AccountKind.REFUNDS)
        if payment.refunded_fen != refunded:
            differ("amount_mismatch", f"refunded: provider {payment.refunded_fen} fen, ledger {refunded} fen")
        if payment.disputed != donation.disputed:
            differ(
                "status_mismatch",
                f"dispute: provider {'disputed' if payment.disputed else 'none'}, donation {donation.dispute_status or 'none'}",
            )
        if payment.fee_fen is not None:
            fee = ledger.donation_total(donation.id, TransactionKind.FEE, AccountKind.PROCESSOR_FEES)
            if fee == 0 and payment.fee_fen > 0 and post_fees:
                _post_fee(donation, payment.fee_fen)
                return found, 1
            if payment.fee_fen != fee:
                differ("amount_mismatch", f"fee: provider {payment.fee_fen} fen, ledger {fee} fen")
    return found, 0


def _post_fee(donation: Donation, fee_fen: int) -> None:

    _withdraw(
        f"donation:{donation.id}:fee",
        TransactionKind.FEE,
        donation,
        fee_fen,
        AccountKind.PROCESSOR_FEES,
        f"fee on donation {donation.id}, from reconciliation",
        {"source": "reconciliation"},
    )


def summarize(report: Report) -> Iterable[str]:
    yield (
        f"{report.provider}: {report.provider_payments} provider payments and {report.donations} succeeded donations "
        f"since {report.since:%Y-%m-%d %H:%M} UTC; {len(report.differences)} differences"
        + (f"; {report.fees_posted} fees posted" if report.fees_posted else "")
    )
    for difference in report.differences:
        yield f"  {difference}"


def reconcile_and_record(client: PaymentProvider, since: datetime | None = None) -> Report:
    """The daily job's work: reconcile, post the fees the provider reported, and write the result to the audit
    log (the fees and the record in one unit of work)."""
    with unit_of_work():
        report = reconcile(client, since, post_fees=True)
        audit.record(
            "payments.reconciled",
            "reconciliation",
            report.provider,
            actor=None,
            after={
                "since": report.since.isoformat(),
                "provider_payments": report.provider_payments,
                "donations": report.donations,
                "fees_posted": report.fees_posted,
                "differences": [str(d) for d in report.differences[:200]],
            },
        )
    return report


@transactional
def queue_reconciliation() -> None:
    """Put a reconciliation in the outbox (relayed once this unit commits)."""
    enqueue("reconcile_payments")
