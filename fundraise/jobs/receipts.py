"""The donation receipt job, `send_receipt`: enqueued when the provider confirms a donation (in the same
transaction as the capture); the work is the receipts service's."""

from __future__ import annotations

from fundraise.jobs.outbox import job
from fundraise.services import receipts


@job("send_receipt")
def send_receipt(donation_id: int) -> None:
    receipts.send_receipt(donation_id)
