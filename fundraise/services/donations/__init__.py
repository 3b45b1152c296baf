"""Donations: start a payment, record it only from the provider's verified event, refund it, follow disputes.

Money flows (ledger accounts, DESIGN §4; every arrow is one balanced transaction with its idempotency key):

    capture      donor_clearing  → campaign_fund       donation:{id}:captured
    fee          campaign_fund   → processor_fees      donation:{id}:fee
    refund       campaign_fund   → refunds             refund:{provider_refund_id}
    (failed)     refunds         → campaign_fund       refund:{provider_refund_id}:reversed
    dispute      campaign_fund   → disputes            dispute:{provider_dispute_id}:withdrawn
    (won)        disputes        → campaign_fund       dispute:{provider_dispute_id}:reinstated
    (lost)       stays in disputes

`donor_clearing` is the outside world seen through the provider (its balance is minus everything donors
paid); `refunds` is what went back to donors through the provider, `processor_fees` what the provider kept,
`disputes` what banks took back. A refund, dispute or late fee is something the provider has already done, so it
is always recorded: if the campaign fund no longer holds enough (it was paid out to the hospital), the fund
gives what it has and `platform_reserve` covers the rest, which the entries show. Staff refunds are refused
up front when the fund cannot cover them, except `refund_all` for confirmed fraud, where the platform must
refund regardless.

Recording: only `handle_event` (fed by the webhook endpoint, or in-process by the sandbox after the same
signature check) moves a donation forward or posts to the ledger. In one database transaction it stores the
event under its unique id (a duplicate delivery finds it and does nothing), locks the donation, applies the
event without ever moving a state backwards, and posts with idempotency keys (so two different events
reporting the same fact post it once).

Raised comes from donation sums: raised = Σ (amount − refunded − disputed) over succeeded donations. Not
the fund balance: fees and payouts lower the fund without lowering what donors gave. The remaining need is
target − raised − relief projects' approved commitments (`remaining_need_fen`, the one place it is computed).

The package, one module per thing: `totals` (raised, commitments, remaining need), `checkout` (starting a
donation), `payment` (the provider and a donation's status), `events` (receiving and applying provider events),
`capture`, `refunds` and `disputes` (what each kind of event does; refunds also as staff ask for them),
`custody` (the ledger moves out of and back into a campaign fund) and `invariants` (`check_donations`).
"""

from fundraise.payments.provider import InvalidSignature, MalformedEvent
from fundraise.services.donations.capture import record_payment_succeeded
from fundraise.services.donations.checkout import EMAIL_SHAPE, caller_key, start_donation
from fundraise.services.donations.events import (
    apply_fetched_refunds,
    handle_event,
    receive_webhook,
    replay_event,
)
from fundraise.services.donations.invariants import check_donations
from fundraise.services.donations.refunds import RefundAllResult, refund_all, refund_donation, refundable_fen
from fundraise.services.donations.totals import (
    committed_by_campaign,
    committed_fen,
    need_left,
    raised_and_committed,
    raised_by_campaign,
    raised_fen,
    remaining_need_fen,
    remaining_needs,
    surplus_fen,
)

__all__ = [
    "EMAIL_SHAPE",
    "InvalidSignature",
    "MalformedEvent",
    "RefundAllResult",
    "apply_fetched_refunds",
    "caller_key",
    "check_donations",
    "committed_by_campaign",
    "committed_fen",
    "handle_event",
    "need_left",
    "raised_and_committed",
    "raised_by_campaign",
    "raised_fen",
    "receive_webhook",
    "record_payment_succeeded",
    "refund_all",
    "refund_donation",
    "refundable_fen",
    "remaining_need_fen",
    "remaining_needs",
    "replay_event",
    "start_donation",
    "surplus_fen",
]
