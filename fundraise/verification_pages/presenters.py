"""A stored verification report as the pages show it: checks in plain words, the coverage cascade as a chart
and a table, the cap and its reason, and the records the checks looked at.

Widths of the chart's bars are computed from integer fen (basis points of the total cost), never floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import load_only

from fundraise.extensions import db
from fundraise.models import Campaign, VerificationReport
from fundraise.money import format_yuan
from fundraise.public.presenters import HOSPITAL_TIERS, region_name
from fundraise.services.verification import asked_target_fen
from fundraise.services.verification_reports import core_report, latest_report
from fundraise.states import PUBLIC_STATES
from fundraise.verification_text import (
    ASSISTANCE_CLASSES,
    DECISION_LABELS,
    DECISION_TONES,
    LOCATIONS,
    SCHEMES,
    STATUS_LABELS,
    STATUS_TONES,
    assumption_message,
    cap_message,
    check_message,
    check_name,
    problem_message,
    reviewer_decision,
    step_message,
)
from verification.coverage import YearPart
from verification.report import VerificationReport as CoreReport
from verification.report import report_from_dict

# The cascade, in the order the tiers pay: (code, label, the report column).
TIERS = (
    ("basic", _l("Basic medical insurance"), "basic_fen"),
    ("critical_illness", _l("Critical-illness insurance"), "critical_illness_fen"),
    ("assistance", _l("Medical assistance"), "assistance_fen"),
    ("gap", _l("The gap: left for the family and donors"), "gap_fen"),
)
EVIDENCE_LABELS = {
    "id_number": _l("ID number"),
    "id_region_code": _l("Region in the ID number"),
    "id_birth_date": _l("Birth date in the ID number"),
    "id_sex": _l("Sex in the ID number"),
    "declared_birth_date": _l("Declared birth date"),
    "declared_sex": _l("Declared sex"),
    "records_checked": _l("Records checked"),
    "source_record_id": _l("Record"),
    "scheme": _l("Scheme"),
    "pooling_region": _l("Pooling region"),
    "valid_from": _l("Valid from"),
    "valid_to": _l("Valid to"),
    "ytd_reimbursed_fen": _l("Reimbursed this year"),
    "assistance_class": _l("Class"),
    "region_code": _l("Region"),
    "hospital_tier": _l("Hospital tier"),
    "hospital_region_code": _l("Hospital region"),
    "stay_confirmed": _l("Stay confirmed"),
    "location": _l("Where the hospital is"),
    "savings_fen": _l("Savings"),
    "commercial_insurance_fen": _l("Commercial insurance"),
    "other_fundraising_fen": _l("Raised elsewhere"),
}
RECORD_LABELS = {
    "person_name": _l("Name"),
    "household_size": _l("Household"),
    "monthly_household_income_fen": _l("Income a month"),
    "ytd_assistance_fen": _l("Assistance paid this year"),
    "ytd_in_policy_self_pay_fen": _l("In-policy self-pay this year"),
    "ytd_as_of": _l("Year-to-date figures as of"),
}
# Parts of the chart narrower than this (basis points of the total) get no label inside the bar.
LABEL_MIN_BP = 1200
# Keep the columns the public breakdown needs: the report's JSON stays in the database.
PUBLIC_COLUMNS = (
    VerificationReport.id,
    VerificationReport.campaign_id,
    VerificationReport.created_at,
    VerificationReport.decision,
    VerificationReport.total_cost_fen,
    VerificationReport.basic_fen,
    VerificationReport.critical_illness_fen,
    VerificationReport.assistance_fen,
    VerificationReport.gap_fen,
    VerificationReport.capped_target_fen,
    VerificationReport.cap_reason,
    VerificationReport.policy_version,
    # The report's JSON too: the page says which checks were made and what the figures rest on.
    VerificationReport.report,
)


@dataclass(frozen=True)
class CheckView:
    code: str
    name: str
    status: str
    status_label: str
    tone: str
    message: str
    evidence: list[tuple[str, str]]


@dataclass(frozen=True)
class Segment:
    code: str
    label: str
    amount_fen: int
    width: str  # a CSS percentage
    share: str  # the same, for people
    labelled: bool


@dataclass(frozen=True)
class Cascade:
    total_fen: int
    segments: list[Segment]
    covered_fen: int


@dataclass(frozen=True)
class ReportView:
    report: VerificationReport
    decision_label: str
    decision_tone: str
    cascade: Cascade | None
    checks: list[CheckView] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    cap: str | None = None
    assistance_first: str | None = None
    problem: str | None = None
    # What the figures rest on, in words; each year's part of a plan split by year.
    assumptions: list[str] = field(default_factory=list)
    years: tuple[YearPart, ...] = ()
    # For the public page: the names of the checks made against records, decided by a reviewer, and not
    # made because nothing was on file.
    checked: list[str] = field(default_factory=list)
    reviewed: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    # "approved" or "rejected" once a reviewer has decided a case the checks sent to review; None otherwise.
    reviewer_decision: str | None = None

    @property
    def to_review(self) -> list[CheckView]:
        return [check for check in self.checks if check.status not in ("pass", "not_checked")]


def _share(part: int, whole: int) -> tuple[str, str]:
    """(CSS width, shown percent) of part in whole, from integer basis points."""
    bp = part * 10_000 // whole if whole > 0 else 0
    return f"{bp // 100}.{bp % 100:02d}%", f"{(bp + 50) // 100}%"


def cascade_of(report: VerificationReport) -> Cascade | None:
    if report.total_cost_fen is None:
        return None
    total = report.total_cost_fen
    segments = []
    for code, label, column in TIERS:
        amount = getattr(report, column) or 0
        width, share = _share(amount, total)
        bp = amount * 10_000 // total if total else 0
        segments.append(Segment(code, str(label), amount, width, share, bp >= LABEL_MIN_BP))
    covered = sum(segment.amount_fen for segment in segments[:3])
    return Cascade(total_fen=total, segments=segments, covered_fen=covered)


def _shown(key: str, value: object) -> str:
    """One evidence or record value in words: money in yuan, schemes and classes by name."""
    if key.endswith("_fen") and isinstance(value, int):
        return format_yuan(value)
    if key == "assistance_class":
        return str(ASSISTANCE_CLASSES.get(str(value), value))
    if key == "scheme":
        return str(SCHEMES.get(str(value), value))
    if key == "stay_confirmed":
        return str(_l("Yes") if value else _l("No"))
    if key == "location":
        return str(LOCATIONS.get(str(value), value))
    if key == "hospital_tier":
        return str(HOSPITAL_TIERS.get(str(value), value))
    if key.endswith("region_code") and value:
        return f"{region_name(str(value))} ({value})"
    return "—" if value in ("", None) else str(value)


def _label(key: str) -> str:
    return str(RECORD_LABELS.get(key) or EVIDENCE_LABELS.get(key) or key.replace("_", " "))


def _evidence(params: dict[str, str | int]) -> list[tuple[str, str]]:
    return [(_label(key), _shown(key, value)) for key, value in params.items()]


def _decision(report: VerificationReport, campaign: Campaign) -> dict[str, Any]:
    decided = reviewer_decision(report.decision, campaign.state)
    key = f"reviewer_{decided}" if decided else report.decision
    return {
        "decision_label": str(DECISION_LABELS.get(key, key)),
        "decision_tone": DECISION_TONES.get(key, "muted"),
        "reviewer_decision": decided,
    }


def report_view(report: VerificationReport, campaign: Campaign) -> ReportView:
    """Everything the family's and the reviewer's pages say about one stored report."""
    base: dict[str, Any] = {"report": report, "cascade": cascade_of(report), **_decision(report, campaign)}
    core = core_report(report)
    if core is None:
        problem = problem_message(report.problem or "", report.policy_region_code, report.policy_year)
        return ReportView(problem=problem, **base)
    checks = [
        CheckView(
            code=result.code,
            name=check_name(result.code),
            status=result.status,
            status_label=str(STATUS_LABELS[result.status]),
            tone=STATUS_TONES[result.status],
            message=check_message(result),
            evidence=_evidence(result.evidence),
        )
        for result in core.checks
    ]
    civil = core.check("civil_affairs")
    cap = None
    if core.cap_reason is not None:
        cap = cap_message(asked_target_fen(campaign), core.capped_target_fen, core.cap_reason)
    split = len(core.cascade.years) > 1
    return ReportView(
        checks=checks,
        steps=[step_message(step, with_year=split) for step in core.cascade.steps],
        cap=cap,
        assistance_first=check_message(civil) if civil.reason_code == "assistance_first" else None,
        **_grounds(core),
        **base,
    )


def _grounds(core: CoreReport) -> dict[str, Any]:
    """What a report rests on: its assumptions, its years, and which checks were made and how."""
    made = core.checks_made()
    return {
        "assumptions": [assumption_message(item) for item in core.assumptions],
        "years": core.cascade.years,
        **{key: [check_name(code) for code in codes] for key, codes in made.items()},
    }


def latest_view(campaign: Campaign) -> ReportView | None:
    report = latest_report(campaign.id)
    return report_view(report, campaign) if report is not None else None


def public_breakdown(campaign: Campaign) -> ReportView | None:
    """The verified breakdown for the public page: only for public campaigns, from the latest report whose
    checks ran; one query, without the report's JSON."""
    if campaign.state not in PUBLIC_STATES:
        return None
    report = db.session.scalar(
        select(VerificationReport)
        .options(load_only(*PUBLIC_COLUMNS))
        .where(VerificationReport.campaign_id == campaign.id, VerificationReport.total_cost_fen.is_not(None))
        .order_by(VerificationReport.id.desc())
        .limit(1)
    )
    if report is None:
        return None
    cap = None
    if report.cap_reason is not None and report.capped_target_fen is not None:
        cap = cap_message(asked_target_fen(campaign), report.capped_target_fen, report.cap_reason)
    # The records snapshot stays in the database: the public page never shows records.
    core = report_from_dict({**report.report, "records_snapshot": {}}) if report.report else None
    return ReportView(
        report=report,
        **_decision(report, campaign),
        cascade=cascade_of(report),
        cap=cap,
        **(_grounds(core) if core is not None else {}),
    )


@dataclass(frozen=True)
class RecordCard:
    source_record_id: str
    used: bool  # the record the cascade used
    fields: list[tuple[str, str]]


# The kinds of records in a snapshot, and the fields shown for each (the name first: a mismatch matters).
SNAPSHOT_KINDS = (
    (
        "enrolments",
        _l("Basic medical insurance"),
        (
            "person_name",
            "scheme",
            "pooling_region",
            "valid_from",
            "valid_to",
            "ytd_reimbursed_fen",
            "ytd_in_policy_self_pay_fen",
            "ytd_as_of",
        ),
    ),
    (
        "critical_illness",
        _l("Critical-illness insurance"),
        ("person_name", "pooling_region", "valid_from", "valid_to", "ytd_reimbursed_fen", "ytd_as_of"),
    ),
    (
        "civil_affairs",
        _l("Civil-affairs assistance"),
        (
            "person_name",
            "assistance_class",
            "region_code",
            "valid_from",
            "valid_to",
            "household_size",
            "monthly_household_income_fen",
            "ytd_assistance_fen",
            "ytd_as_of",
        ),
    ),
)


def snapshot_cards(report: VerificationReport) -> list[tuple[str, list[RecordCard]]]:
    """The records a report looked at, for the reviewer: per kind, one card per record with its fields in
    words, the ones the cascade used marked."""
    snapshot = report.records_snapshot or {}
    used = {value for value in (snapshot.get("used") or {}).values() if value}
    return [
        (
            str(title),
            [
                RecordCard(
                    source_record_id=str(row.get("source_record_id", "")),
                    used=row.get("source_record_id") in used,
                    fields=[(_label(name), _shown(name, row.get(name))) for name in names],
                )
                for row in snapshot.get(key) or []
            ],
        )
        for key, title, names in SNAPSHOT_KINDS
    ]
