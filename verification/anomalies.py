"""Anomaly rules of the officers' register (DESIGN §5, Audit): what in a recipient's aid does not add up.

Each rule is a pure function over plain data the shell loaded for one campaign and returns the anomalies it
finds (an empty list when there are none). An anomaly is a code with parameters, for the web layer to put in
words, and the thing that shows it (`evidence_kind`, `evidence_id`): the campaign's verification report, another
campaign, a disbursement, or the campaign's donations. Nothing here reads the clock or the database.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "BULK_REFUND_COUNT",
    "BULK_REFUND_WINDOW",
    "CODES",
    "MANY_GIFTS_COUNT",
    "Aid",
    "Anomaly",
    "Gift",
    "Payout",
    "ReportState",
    "aid_above_cost",
    "bulk_refunds",
    "disclosure_mismatch",
    "duplicate_patient",
    "many_gifts_one_payer",
    "other_hospital",
    "records_changed",
]

# Donation patterns worth an officer's look (platform policy, not a legal threshold): one payer giving the
# same campaign five times or more (a family "seeding" its own campaign, or card testing), and three or more
# gifts refunded within a day (money passed through the campaign and taken back).
MANY_GIFTS_COUNT = 5
BULK_REFUND_COUNT = 3
BULK_REFUND_WINDOW = datetime.timedelta(hours=24)

CODES = (
    "aid_above_cost",
    "duplicate_patient",
    "records_changed",
    "disclosure_mismatch",
    "other_hospital",
    "many_gifts_one_payer",
    "bulk_refunds",
)
Params = dict[str, str | int]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One thing that does not add up, with what shows it: evidence_kind is 'report', 'campaign',
    'disbursement' or 'donations', evidence_id the id of that thing (the campaign's own for 'donations')."""

    code: str
    params: Params
    evidence_kind: str
    evidence_id: int


class AidParts(Protocol):
    """Anything that knows what each source gave a case (a rule's input, a register row, its totals)."""

    @property
    def basic_fen(self) -> int: ...
    @property
    def critical_illness_fen(self) -> int: ...
    @property
    def assistance_fen(self) -> int: ...
    @property
    def committed_fen(self) -> int: ...
    @property
    def raised_fen(self) -> int: ...


def total_aid(parts: AidParts) -> int:
    """Aid from every source: the three public tiers, charities' approved commitments and donations (what
    was paid out of them to the hospital is part of these, not more aid)."""
    return (
        parts.basic_fen
        + parts.critical_illness_fen
        + parts.assistance_fen
        + parts.committed_fen
        + parts.raised_fen
    )


@dataclass(frozen=True, slots=True)
class Aid:
    """A recipient's total cost and the aid from every source, in fen."""

    campaign_id: int
    total_cost_fen: int
    basic_fen: int = 0
    critical_illness_fen: int = 0
    assistance_fen: int = 0
    committed_fen: int = 0
    raised_fen: int = 0

    @property
    def total_aid_fen(self) -> int:
        return total_aid(self)


@dataclass(frozen=True, slots=True)
class ReportState:
    """The campaign's latest verification report as far as these rules need it."""

    report_id: int
    created_at: datetime.datetime
    decision: str
    changed_outcome: bool = False
    acknowledged: bool = False
    previous_decision: str | None = None
    # The stored result of the disclosure check ({"status", "reason_code", "params"}), None if not stored.
    disclosure: Mapping[str, object] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Payout:
    disbursement_id: int
    hospital_id: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Gift:
    """A succeeded donation and when its first refund was made, if any."""

    donation_id: int
    refunded_at: datetime.datetime | None = None


def aid_above_cost(aid: Aid) -> list[Anomaly]:
    """Insurance, assistance, relief commitments and donations together above the treatment's total cost."""
    if aid.total_aid_fen <= aid.total_cost_fen:
        return []
    params: Params = {
        "total_aid_fen": aid.total_aid_fen,
        "total_cost_fen": aid.total_cost_fen,
        "excess_fen": aid.total_aid_fen - aid.total_cost_fen,
    }
    return [Anomaly("aid_above_cost", params, "campaign", aid.campaign_id)]


def duplicate_patient(campaign_id: int, same_patient: Sequence[int]) -> list[Anomaly]:
    """The same patient (blind index) on other campaigns: `same_patient` are those campaigns' ids."""
    others = sorted(set(same_patient) - {campaign_id})
    if not others:
        return []
    return [
        Anomaly("duplicate_patient", {"count": len(others), "other_id": others[0]}, "campaign", others[0])
    ]


def records_changed(report: ReportState | None, newest_record_at: datetime.datetime | None) -> list[Anomaly]:
    """Records that changed after verification: a re-run changed the outcome and no one has acknowledged it,
    or a record of the patient was imported after the latest report (re-verification still to run)."""
    if report is None:
        return []
    if report.changed_outcome and not report.acknowledged:
        params: Params = {"reason": "outcome_changed", "decision": report.decision}
        if report.previous_decision:
            params["previous_decision"] = report.previous_decision
        return [Anomaly("records_changed", params, "report", report.report_id)]
    if newest_record_at is not None and newest_record_at > report.created_at:
        return [Anomaly("records_changed", {"reason": "records_newer"}, "report", report.report_id)]
    return []


def disclosure_mismatch(report: ReportState | None) -> list[Anomaly]:
    """The latest report found the disclosed finances out of line with the civil-affairs record. A check that
    could not be made ("not checked": no record) is not an anomaly."""
    if report is None or report.disclosure is None:
        return []
    if report.disclosure.get("status") not in ("needs_review", "fail"):
        return []
    if report.disclosure.get("reason_code") != "disclosure_mismatch":
        return []
    raw = report.disclosure.get("params")
    params: Params = {}
    if isinstance(raw, Mapping):
        params = {str(k): v for k, v in raw.items() if isinstance(v, str | int) and not isinstance(v, bool)}
    return [Anomaly("disclosure_mismatch", params, "report", report.report_id)]


def other_hospital(campaign_hospital_id: int | None, payouts: Sequence[Payout]) -> list[Anomaly]:
    """Each disbursement to a hospital other than the campaign's treating one."""
    return [
        Anomaly(
            "other_hospital",
            {"disbursement_id": payout.disbursement_id, "amount_fen": payout.amount_fen},
            "disbursement",
            payout.disbursement_id,
        )
        for payout in payouts
        if payout.hospital_id != campaign_hospital_id
    ]


def many_gifts_one_payer(campaign_id: int, gifts_by_payer: Mapping[str, int]) -> list[Anomaly]:
    """One payer (a donor account or a receipt e-mail) with MANY_GIFTS_COUNT or more gifts to the campaign:
    one anomaly, naming how many gifts the busiest payer made and how many payers did so."""
    heavy = [count for payer, count in gifts_by_payer.items() if payer and count >= MANY_GIFTS_COUNT]
    if not heavy:
        return []
    params: Params = {"count": max(heavy), "payers": len(heavy)}
    return [Anomaly("many_gifts_one_payer", params, "donations", campaign_id)]


def bulk_refunds(campaign_id: int, gifts: Sequence[Gift]) -> list[Anomaly]:
    """BULK_REFUND_COUNT or more gifts refunded within BULK_REFUND_WINDOW of each other (the largest such
    burst)."""
    times = sorted(gift.refunded_at for gift in gifts if gift.refunded_at is not None)
    best, best_start = 0, 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] > BULK_REFUND_WINDOW:
            start += 1
        if end - start + 1 > best:
            best, best_start = end - start + 1, start
    if best < BULK_REFUND_COUNT:
        return []
    params: Params = {"count": best, "first": times[best_start].date().isoformat()}
    return [Anomaly("bulk_refunds", params, "donations", campaign_id)]
