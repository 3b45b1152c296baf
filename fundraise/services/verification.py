"""Verify campaigns against insurance and civil-affairs records and the region's benefit rules (DESIGN §5).

`verify_campaign` (one case) and `verify_campaigns` (a batch) load each case, its hospital and disease range,
the patient's records from the configured `RecordSource` (found by the ID number's blind index) and the
policy of the patient's pooling region for the treatment year, call the pure core
(`verification.checks.verify_case`), store a `VerificationReport`, cap the target and move the campaign.

The rules of a run:

- A case not yet decided (submitted or verifying) is moved submitted → verifying → verified, needs_review or
  rejected by system transitions, whose reason is the report's summary in plain words.
- A case already past that (needs_review, verified, fundraising, suspended) is never moved by a re-run: the
  new report is stored, and when its decision differs from the previous report's it is marked
  `changed_outcome` and listed for staff until one of them acknowledges it.
- While the case has not started fundraising, its target is set to the report's capped target: what the
  family asked for (kept in `requested_target_fen`), lowered to the gap and to 500,000 yuan. Audit-logged
  with the reason; never above what was asked.
- History is kept: each run that finds something different writes a new report. A re-run that finds
  exactly what the latest report says writes nothing, so running twice changes nothing.
- No policy for the region and year, or a records service that does not answer, is not a crash: the case
  goes to a reviewer with that reason.

Batches are processed in chunks of `CHUNK_SIZE` cases, each chunk one transaction: cases, records and the
previous reports are read with one query per table, the checks run in memory, and the reports, state changes,
audit events and notifications are written in bulk. A single case is a chunk of one, so both paths are the
same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from config.settings import PROJECT_ROOT
from fundraise import ConfigurationError, pii
from fundraise.errors import IllegalTransition, NotFound
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import (
    Campaign,
    CampaignState,
    DiseaseRange,
    Hospital,
    User,
    VerificationDecision,
    VerificationProblem,
    VerificationReport,
    VerificationTrigger,
)
from fundraise.models.columns import utcnow
from fundraise.records.sources import DatabaseSource, RecordSource, RecordSourceUnavailable, configured_source
from fundraise.services import audit
from fundraise.services.campaigns import ACTIVE_STATES, move_by_system
from fundraise.verification_text import problem_summary, summary
from verification.checks import CaseFacts, Records, verify_case
from verification.policy import Policy, PolicyError, PolicyKey, load_policies, policy_for
from verification.report import VerificationReport as CoreReport
from verification.report import report_from_dict, report_to_dict

S = CampaignState
DEFAULT_POLICY_DIR = PROJECT_ROOT / "config" / "policies"
POLICIES_EXTENSION = "aidbridge_policies"
# Cases not yet decided: a run moves them on.
UNDECIDED = (S.SUBMITTED, S.VERIFYING)
# Cases whose target may still be lowered: nobody has given money against it yet.
BEFORE_FUNDRAISING = (S.SUBMITTED, S.VERIFYING, S.NEEDS_REVIEW, S.VERIFIED)
DECISION_MOVES = {
    VerificationDecision.VERIFIED: "verify",
    VerificationDecision.NEEDS_REVIEW: "flag_for_review",
    VerificationDecision.REJECTED: "reject",
}
# Cases per transaction in a batch: large enough that round trips are few, small enough that a chunk's rows
# and the IN lists of its queries stay modest.
CHUNK_SIZE = 1000
LOCAL_TIME = ZoneInfo("Asia/Shanghai")

Progress = Callable[[int], None]


# --- policies --------------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Load and validate every policy file once per app; a malformed one stops start-up, naming the file,
    the key and the reason (POLICY_DIR, by default config/policies/)."""
    directory = app.config.get("POLICY_DIR") or DEFAULT_POLICY_DIR
    try:
        app.extensions[POLICIES_EXTENSION] = load_policies(directory)
    except PolicyError as error:
        raise ConfigurationError(
            f"refusing to start: the benefit policy file {error.source} is malformed:"
            f" {error.key_path or '(top level)'}: {error.reason}"
        ) from error


def loaded_policies() -> Mapping[PolicyKey, Policy]:
    policies: Mapping[PolicyKey, Policy] = current_app.extensions[POLICIES_EXTENSION]
    return policies


# --- running verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one run did to one campaign."""

    campaign_id: int
    report_id: int
    decision: str
    stored: bool  # False: nothing differed from the latest report, so none was written
    changed_outcome: bool
    moved_to: str | None  # the state a not-yet-decided case was moved to


def verify_campaign(campaign_id: int, *, trigger: str, actor: User | None = None) -> VerificationReport:
    """Verify one campaign now (see the module docstring) and return its latest report; commits.

    Raises NotFound for no such campaign and IllegalTransition for one that is not active (a draft, or one
    that has ended).
    """
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_("We could not find that campaign."))
    if campaign.state not in ACTIVE_STATES:
        raise IllegalTransition(_("Only submitted and active campaigns are verified."))
    (outcome,) = verify_campaigns([campaign_id], trigger=trigger, actor=actor)
    report = db.session.get(VerificationReport, outcome.report_id)
    assert report is not None
    return report


def verify_campaigns(
    campaign_ids: Iterable[int],
    *,
    trigger: str,
    actor: User | None = None,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Verify many campaigns, a chunk per transaction; campaigns that are not active are skipped.

    `progress`, if given, is called after each chunk with the number of cases done in it.
    """
    trigger = VerificationTrigger(trigger)
    ids = sorted(set(campaign_ids))
    context = _Context.load()
    outcomes: list[Outcome] = []
    for start in range(0, len(ids), CHUNK_SIZE):
        chunk = ids[start : start + CHUNK_SIZE]
        try:
            outcomes.extend(_verify_chunk(chunk, trigger, actor, context))
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        if progress is not None:
            progress(len(chunk))
    return outcomes


def active_campaign_ids() -> list[int]:
    """Every campaign from submission until it ends (what `flask verify run --all-active` verifies)."""
    return list(db.session.scalars(select(Campaign.id).where(Campaign.state.in_(ACTIVE_STATES))))


def campaigns_of_persons(person_indexes: Iterable[str], batch: int = 5000) -> list[int]:
    """The active campaigns whose patient is one of these persons (blind indexes)."""
    wanted = list(person_indexes)
    found: list[int] = []
    for start in range(0, len(wanted), batch):
        found.extend(
            db.session.scalars(
                select(Campaign.id).where(
                    Campaign.patient_id_index.in_(wanted[start : start + batch]),
                    Campaign.state.in_(ACTIVE_STATES),
                )
            )
        )
    return sorted(found)


# Re-verification jobs carry this many campaign ids each: one import can touch a very large number of people.
REVERIFY_JOB_SIZE = 500


def enqueue_reverification(person_indexes: Iterable[str]) -> int:
    """After a records import: enqueue re-verification of the affected active campaigns; commits. Returns how
    many campaigns were queued."""
    ids = campaigns_of_persons(person_indexes)
    for start in range(0, len(ids), REVERIFY_JOB_SIZE):
        enqueue(
            "reverify_campaigns",
            campaign_ids=ids[start : start + REVERIFY_JOB_SIZE],
            trigger=VerificationTrigger.RECORDS_IMPORT.value,
        )
    db.session.commit()
    return len(ids)


@dataclass
class _Context:
    """What every chunk of a run shares: reference data, the policies and the record source."""

    hospitals: dict[int, Hospital]
    diseases: dict[int, DiseaseRange]
    policies: Mapping[PolicyKey, Policy]
    source: RecordSource

    @classmethod
    def load(cls) -> _Context:
        return cls(
            hospitals={h.id: h for h in db.session.scalars(select(Hospital))},
            diseases={d.id: d for d in db.session.scalars(select(DiseaseRange))},
            policies=loaded_policies(),
            source=configured_source(),
        )


@dataclass
class _Checked:
    """One case after the checks: the report row's values, and the core report when the checks ran."""

    campaign: Campaign
    values: dict[str, Any]
    core: CoreReport | None
    reason: str


def _verify_chunk(
    ids: Sequence[int], trigger: VerificationTrigger, actor: User | None, context: _Context
) -> list[Outcome]:
    query = (
        select(Campaign).where(Campaign.id.in_(ids), Campaign.state.in_(ACTIVE_STATES)).order_by(Campaign.id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # A job and a command-line run on the same case: the second waits, then sees the first's result.
        query = query.with_for_update(of=Campaign)
    campaigns = list(db.session.scalars(query))
    if not campaigns:
        return []
    indexes = {c.patient_id_index for c in campaigns if c.patient_id_index}
    records = _records(campaigns, context.source)
    active_counts = dict(
        db.session.execute(
            select(Campaign.patient_id_index, func.count())
            .where(Campaign.patient_id_index.in_(indexes), Campaign.state.in_(ACTIVE_STATES))
            .group_by(Campaign.patient_id_index)
        ).all()
    )
    latest = _latest_reports([c.id for c in campaigns])

    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        checked = [
            _check(
                campaign,
                records.get(campaign.id),
                active_counts.get(campaign.patient_id_index, 1) - 1,
                context,
            )
            for campaign in campaigns
        ]

    runs: list[tuple[_Checked, VerificationReport | None, VerificationReport | None]] = []
    moves: list[tuple[Campaign, str, str]] = []
    for case in checked:
        campaign = case.campaign
        previous = latest.get(campaign.id)
        undecided = campaign.state in UNDECIDED
        if previous is not None and not undecided and _same(previous, case.values):
            runs.append((case, previous, None))
            continue
        decision = case.values["decision"]
        report = VerificationReport(
            campaign_id=campaign.id,
            trigger=trigger,
            requested_by_id=actor.id if actor else None,
            previous_decision=previous.decision if previous else None,
            # A case's first decision is not a change, whatever an earlier run said meanwhile.
            changed_outcome=previous is not None and previous.decision != decision and not undecided,
            **case.values,
        )
        runs.append((case, previous, report))
        if undecided:
            if campaign.state == S.SUBMITTED:
                moves.append((campaign, "begin_verification", ""))
            moves.append((campaign, DECISION_MOVES[VerificationDecision(decision)], case.reason))

    db.session.add_all(report for _case, _previous, report in runs if report is not None)
    db.session.flush()  # report ids, for the audit events
    events: list[audit.Event] = []
    for case, _previous, report in runs:
        if report is None:
            continue
        events.extend(_cap_target(case.campaign, report))
        if report.changed_outcome:
            events.append(
                audit.Event(
                    "campaign.verification_changed",
                    "campaign",
                    case.campaign.id,
                    before={"decision": report.previous_decision},
                    after={"decision": report.decision, "report_id": report.id, "trigger": str(trigger)},
                )
            )
    audit.record_many(events, actor=actor)
    states_before = {case.campaign.id: case.campaign.state for case, _p, _r in runs}
    move_by_system(moves)
    return [
        Outcome(
            campaign_id=case.campaign.id,
            report_id=(report or previous).id,  # type: ignore[union-attr]
            decision=(report or previous).decision,  # type: ignore[union-attr]
            stored=report is not None,
            changed_outcome=report is not None and report.changed_outcome,
            moved_to=case.campaign.state if case.campaign.state != states_before[case.campaign.id] else None,
        )
        for case, previous, report in runs
    ]


def _records(campaigns: Sequence[Campaign], source: RecordSource) -> dict[int, Records | None]:
    """Each campaign's records by campaign id; None where the source could not answer."""
    if isinstance(source, DatabaseSource):
        found = source.records_for_many({c.patient_id_index for c in campaigns if c.patient_id_index})
        return {c.id: found.get(c.patient_id_index or "", Records()) for c in campaigns}
    records: dict[int, Records | None] = {}
    for campaign in campaigns:
        try:
            records[campaign.id] = source.records_for(campaign.patient_id_index or "", _id_number(campaign))
        except RecordSourceUnavailable:
            records[campaign.id] = None
    return records


def _latest_reports(campaign_ids: Sequence[int]) -> dict[int, VerificationReport]:
    newest = (
        select(func.max(VerificationReport.id))
        .where(VerificationReport.campaign_id.in_(campaign_ids))
        .group_by(VerificationReport.campaign_id)
    )
    rows = db.session.scalars(select(VerificationReport).where(VerificationReport.id.in_(newest)))
    return {report.campaign_id: report for report in rows}


# The stored values that say what a run found; equal values mean nothing changed.
_CONTENT = ("decision", "problem", "policy_version", "report", "records_snapshot", "capped_target_fen")


def _same(previous: VerificationReport, values: Mapping[str, Any]) -> bool:
    return all(getattr(previous, name) == values.get(name) for name in _CONTENT)


def _id_number(campaign: Campaign) -> str:
    if campaign.patient_id_ciphertext is None:
        return ""
    return pii.decrypt_id(campaign.patient_id_ciphertext)


def treatment_date(campaign: Campaign) -> date:
    """The admission date; without one, the day it was submitted (China time), whose year picks the rules."""
    if campaign.admitted_on is not None:
        return campaign.admitted_on
    moment: datetime = campaign.submitted_at or utcnow()
    return moment.astimezone(LOCAL_TIME).date()


def _check(campaign: Campaign, records: Records | None, other_active: int, context: _Context) -> _Checked:
    """Run the checks for one case (no database writes)."""
    day = treatment_date(campaign)
    region = campaign.patient_region_code or ""
    policy = policy_for(context.policies, region, day.year)
    base: dict[str, Any] = {"policy_region_code": region, "policy_year": day.year}
    problem: VerificationProblem | None = None
    if policy is None:
        problem = VerificationProblem.NO_POLICY
    elif records is None:
        problem = VerificationProblem.RECORDS_UNAVAILABLE
    if problem is not None:
        values = {
            **base,
            "decision": VerificationDecision.NEEDS_REVIEW.value,
            "problem": problem.value,
            "policy_version": policy.version if policy else None,
            "report": None,
            "records_snapshot": None,
            "capped_target_fen": None,
        }
        if policy is not None:
            values["policy_region_code"] = policy.region_code
        return _Checked(campaign, values, None, problem_summary(problem, region, day.year))

    assert policy is not None and records is not None
    report = verify_case(_facts(campaign, day, other_active, context), records, policy)
    stored = report_to_dict(report)
    snapshot = stored.pop("records_snapshot")
    cascade = report.cascade
    values = {
        **base,
        "policy_region_code": policy.region_code,
        "policy_version": policy.version,
        "decision": report.decision,
        "problem": None,
        "total_cost_fen": cascade.total_cost_fen,
        "basic_fen": cascade.basic_fen,
        "critical_illness_fen": cascade.critical_illness_fen,
        "assistance_fen": cascade.assistance_fen,
        "gap_fen": cascade.gap_fen,
        "capped_target_fen": report.capped_target_fen,
        "cap_reason": report.cap_reason,
        "report": stored,
        "records_snapshot": snapshot,
    }
    return _Checked(campaign, values, report, summary(report))


def _facts(campaign: Campaign, day: date, other_active: int, context: _Context) -> CaseFacts:
    hospital = context.hospitals.get(campaign.hospital_id) if campaign.hospital_id else None
    disease = context.diseases.get(campaign.disease_range_id) if campaign.disease_range_id else None
    id_number = _id_number(campaign)
    return CaseFacts(
        patient_name=campaign.patient_name,
        id_number=id_number,
        birth_date=campaign.patient_birth_date or date.min,
        sex=campaign.patient_sex or "",
        patient_region_code=campaign.patient_region_code or "",
        treatment_date=day,
        hospital_registered=hospital is not None,
        hospital_tier=hospital.tier if hospital else "tertiary",  # type: ignore[arg-type]
        hospital_region_code=hospital.region_code if hospital else "",
        stay_confirmed=campaign.stay_confirmed_at is not None,
        # The filing form does not ask about referral/filing for out-of-region treatment (转诊备案), so none
        # is assumed: the lower out-of-region rate, a gap no smaller than the real one.
        referral_filed=False,
        disease_category=disease.category if disease else None,
        disease_cost_min_fen=disease.cost_min_fen if disease else None,
        disease_cost_max_fen=disease.cost_max_fen if disease else None,
        total_cost_fen=campaign.cost_total_fen,
        in_policy_cost_fen=campaign.cost_in_policy_fen,
        disclosed_household_size=campaign.household_size or 0,
        disclosed_annual_income_fen=campaign.household_income_fen,
        savings_fen=campaign.savings_fen,
        commercial_insurance_fen=campaign.commercial_insurance_fen,
        other_fundraising_fen=campaign.other_fundraising_fen,
        target_fen=asked_target_fen(campaign),
        other_active_campaigns=other_active,
        assistance_claimed=campaign.assistance_claimed,
    )


def asked_target_fen(campaign: Campaign) -> int:
    """The target the family asked for, before any cap."""
    if campaign.requested_target_fen is not None:
        return campaign.requested_target_fen
    return campaign.target_fen


def _cap_target(campaign: Campaign, report: VerificationReport) -> list[audit.Event]:
    """Set the target to the report's capped target (the asked target, lowered to the gap and the limit)
    while nobody has given against it yet. It never exceeds what the family asked for."""
    capped = report.capped_target_fen
    if (
        capped is None
        or capped == campaign.target_fen
        or report.decision == VerificationDecision.REJECTED
        or campaign.state not in BEFORE_FUNDRAISING
    ):
        return []
    before = campaign.target_fen
    if campaign.requested_target_fen is None:
        campaign.requested_target_fen = before
    campaign.target_fen = capped
    return [
        audit.Event(
            "campaign.cap_target",
            "campaign",
            campaign.id,
            before={"target_fen": before},
            after={"target_fen": capped, "cap_reason": report.cap_reason, "report_id": report.id},
        )
    ]


# --- reading reports -------------------------------------------------------------------------------------


def latest_report(campaign_id: int) -> VerificationReport | None:
    return db.session.scalar(
        select(VerificationReport)
        .where(VerificationReport.campaign_id == campaign_id)
        .order_by(VerificationReport.id.desc())
        .limit(1)
    )


def report_history(campaign_id: int) -> list[VerificationReport]:
    """Every report of a campaign, newest first."""
    return list(
        db.session.scalars(
            select(VerificationReport)
            .where(VerificationReport.campaign_id == campaign_id)
            .order_by(VerificationReport.id.desc())
        )
    )


def core_report(report: VerificationReport) -> CoreReport | None:
    """The stored report as the core's dataclass (None when the checks could not run)."""
    if report.report is None:
        return None
    return report_from_dict({**report.report, "records_snapshot": report.records_snapshot or {}})


def changed_reports(limit: int = 200) -> list[VerificationReport]:
    """Latest reports whose decision changed on a re-run and that no staff member has acknowledged yet."""
    return list(db.session.scalars(_changed_query().order_by(VerificationReport.id.desc()).limit(limit)))


def changed_count() -> int:
    return db.session.scalar(select(func.count()).select_from(_changed_query().subquery())) or 0


def _changed_query() -> Any:
    newest = select(func.max(VerificationReport.id)).group_by(VerificationReport.campaign_id)
    return select(VerificationReport).where(
        VerificationReport.changed_outcome.is_(True),
        VerificationReport.acknowledged_at.is_(None),
        VerificationReport.id.in_(newest),
    )


def acknowledge(report: VerificationReport, staff: User) -> None:
    """A staff member has seen a changed outcome; it leaves the list. Audited; commits."""
    if report.acknowledged_at is not None:
        return
    report.acknowledged_at = utcnow()
    report.acknowledged_by_id = staff.id
    audit.record(
        "campaign.verification_acknowledged",
        "campaign",
        report.campaign_id,
        actor=staff,
        after={"report_id": report.id, "decision": report.decision},
    )
    db.session.commit()
