"""How long each kind of personal data is kept: one table that the privacy notice shows and the retention job
applies, so the two never disagree. Plain data, no database and no web framework.

A rule keeps a kind of record for `days` after the moment `starts` names:

    created       the record was made (logs, records feeds)
    last_change   the draft was last changed
    decided       the case was decided (rejected)
    case_closed   the campaign ended: closed out, cancelled or rejected, whichever last moved it
    year_end      the end of the accounting year the record belongs to

`days=None` keeps the record while the case is open and `after_close_days` more once it closes (the form the
issue asked for: "until the case closes + N"); a rule has one form or the other. The legal basis is a code the
notice explains (`LEGAL_BASES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Start = Literal["created", "last_change", "decided", "case_closed", "year_end"]

YEAR = 365  # days; a year-long period rounds leap days away in the family's favour (kept slightly shorter)


@dataclass(frozen=True)
class RetentionRule:
    kind: str  # a code: the notice's label and the job's handler are found by it
    covers: str  # what it covers, for the people who maintain the job (the notice has its own words)
    days: int | None  # how long after `starts`; None: while the case is open, then `after_close_days`
    starts: Start
    basis: str  # a code of LEGAL_BASES
    after_close_days: int | None = None

    def __post_init__(self) -> None:
        if (self.days is None) == (self.after_close_days is None):
            raise ValueError(f"{self.kind}: give either days or after_close_days")


# Legal basis codes, as the notice names them.
LEGAL_BASES = (
    "pipl_minimum",  # PIPL art. 19: no longer than the purpose needs
    "civil_limitation",  # Civil Code art. 188: claims expire three years after the holder learns of them
    "cybersecurity_law",  # Cybersecurity Law art. 21(3): network logs kept at least six months
    "accounting_archives",  # 会计档案管理办法 (2015) art. 14 and its table: vouchers and ledgers 30 years
)

RULES: tuple[RetentionRule, ...] = (
    # A draft never submitted was never checked or used: a year lets a family come back to it (treatment
    # plans change over months), and nothing justifies keeping it longer.
    RetentionRule(
        "draft_unsubmitted",
        "Campaigns still in draft: every field, the ID number, photos and evidence uploaded to them.",
        days=YEAR,
        starts="last_change",
        basis="pipl_minimum",
    ),
    # A rejected case may be disputed, and a rejected patient filing again must be recognised; both fall
    # within the three-year limitation period of civil claims, so that is how long it stays.
    RetentionRule(
        "rejected_case",
        "A rejected campaign's fields, ID number and verification report.",
        days=3 * YEAR,
        starts="decided",
        basis="civil_limitation",
    ),
    # Evidence (diagnosis, cost estimate, identity and household documents) backs a case while it raises and
    # pays money, and answers a donor's or a regulator's question for the limitation period after it ends.
    RetentionRule(
        "evidence_documents",
        "Documents filed as evidence and photos of a submitted campaign (not the bills payments were made on).",
        days=None,
        after_close_days=3 * YEAR,
        starts="case_closed",
        basis="civil_limitation",
    ),
    # Insurance and civil-affairs records feeds are read to verify cases; a benefit year's records matter for
    # re-verification in that year and the next, not after.
    RetentionRule(
        "records_feeds",
        "Rows imported from medical-insurance and civil-affairs feeds.",
        days=2 * YEAR,
        starts="created",
        basis="pipl_minimum",
    ),
    # Sign-in records (sessions with their address and browser, password-reset links): kept the six months
    # the Cybersecurity Law asks of network logs, and no longer, since they are personal data themselves.
    RetentionRule(
        "access_logs",
        "Sign-in sessions (address, browser, times) and password-reset links.",
        days=183,
        starts="created",
        basis="cybersecurity_law",
    ),
    # The audit log, "who looked at a case's private details" included, is the tamper-evident proof of every
    # money movement and decision: it is kept with the accounting records it proves and is never edited.
    # It names people by id only; a personal detail an event carries is sealed under the person's own key,
    # which a deletion erases (fundraise/person_keys.py), so nothing in it stays readable about them.
    RetentionRule(
        "audit_log",
        "The audit log: who did and who viewed what, by id, with personal details sealed per person.",
        days=30 * YEAR,
        starts="year_end",
        basis="accounting_archives",
    ),
    # Donations, refunds, disbursements, the ledger and the bills paid are original vouchers and books of
    # account: 30 years from the end of their accounting year under the Accounting Archives Management
    # Measures (2015). A deletion request does not shorten this; the rest of the person's data goes.
    RetentionRule(
        "accounting_records",
        "Donations, refunds, disbursements, ledger entries and the hospital bills payments were made on.",
        days=30 * YEAR,
        starts="year_end",
        basis="accounting_archives",
    ),
)

BY_KIND: dict[str, RetentionRule] = {rule.kind: rule for rule in RULES}


def rule_for(kind: str) -> RetentionRule:
    """The rule for a kind code; a KeyError names a kind the table does not have."""
    return BY_KIND[kind]
