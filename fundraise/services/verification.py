"""Verify campaigns against insurance and civil-affairs records and the region's benefit rules (DESIGN §5).

`verify_campaign` (one case) and `verify_campaigns` (a batch) load each case, its hospital and disease range,
the patient's records from the configured `RecordSource` (found by the ID number's blind index) and the
policy of the patient's pooling region for the treatment year, call the pure core
(`verification.case.verify_case`), store a `VerificationReport`, cap the target and move the campaign.

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

The benefit policies a run applies are loaded by `fundraise.services.policies`; re-verification after a records
import is queued by `fundraise.services.reverification`; reports are read through
`fundraise.services.verification_reports`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise import audit, pii
from fundraise.database import any_of, insert_rows, update_rows
from fundraise.errors import IllegalTransition, NotFound
from fundraise.extensions import db
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
from fundraise.services.filing import ACTIVE_STATES
from fundraise.services.policies import loaded_policies
from fundraise.services.transitions import move_by_system
from fundraise.unit_of_work import unit_of_work
from fundraise.verification_text import report_reason
from verification.case import verify_case
from verification.checks import CaseFacts
from verification.policy import Policy, PolicyKey, policy_for
from verification.records import Records
from verification.report import VerificationReport as CoreReport
from verification.report import report_to_dict

S = CampaignState
# Cases not yet decided: a run moves them on.
UNDECIDED = (S.SUBMITTED, S.VERIFYING)
# Cases whose target may still be lowered: nobody has given money against it yet.
BEFORE_FUNDRAISING = (S.SUBMITTED, S.VERIFYING, S.NEEDS_REVIEW, S.VERIFIED)
DECISION_MOVES = {
    VerificationDecision.VERIFIED: "verify",
    VerificationDecision.NEEDS_REVIEW: "flag_for_review",
    VerificationDecision.REJECTED: "reject",
}
# Chunks verified at once on PostgreSQL, each in its own thread and transaction: while one chunk's writes wait
# on the server, the next chunk's checks run (the GIL is free while a thread waits). Their writes still take
# turns on the audit chain's lock, so the chain stays in order. SQLite has one writer, so one chunk at a time.
PARALLEL_CHUNKS = 2
# Cases per transaction in a batch: large enough that round trips are few, small enough that a chunk's rows
# and the IN lists of its queries stay modest.
CHUNK_SIZE = 1000
LOCAL_TIME = ZoneInfo("Asia/Shanghai")

Progress = Callable[[int], None]


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

    On PostgreSQL, `PARALLEL_CHUNKS` chunks are verified at once, each in its own thread, session and
    transaction. `progress`, if given, is called after each chunk with the number of cases done in it.
    """
    trigger = VerificationTrigger(trigger)
    ids = sorted(set(campaign_ids))
    chunks = [ids[start : start + CHUNK_SIZE] for start in range(0, len(ids), CHUNK_SIZE)]
    context = _Context.load()
    workers = PARALLEL_CHUNKS if db.session.get_bind().dialect.name == "postgresql" else 1
    if workers == 1 or len(chunks) == 1:
        outcomes: list[Outcome] = []
        with _fewer_collections():
            for chunk in chunks:
                outcomes.extend(_verify_and_commit(chunk, trigger, actor, context))
                if progress is not None:
                    progress(len(chunk))
        return outcomes

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy it is
    actor_id = actor.id if actor is not None else None

    def in_own_session(chunk: list[int]) -> list[Outcome]:
        with app.app_context():
            try:
                own_actor = db.session.get(User, actor_id) if actor_id is not None else None
                return _verify_and_commit(chunk, trigger, own_actor, context)
            finally:
                db.session.remove()

    outcomes = []
    with _fewer_collections(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
        for chunk, done in zip(chunks, pool.map(in_own_session, chunks), strict=True):
            outcomes.extend(done)
            if progress is not None:
                progress(len(chunk))
    return outcomes


# While a batch runs, the cyclic garbage collector's youngest generation is collected every this many
# allocations instead of every 700 (CPython's default): the checks allocate millions of short-lived dicts
# and dataclasses that reference counting frees, and scanning them every 700 allocations cost about a fifth
# of a batch's CPU time (benchmarks/verify.py). Memory is unaffected in practice: nothing here makes cycles.
_BATCH_GC_THRESHOLD = 50_000
_gc_lock = threading.Lock()
_gc_batches = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the collector's first threshold for the duration of a batch (process-wide, so nested and
    concurrent batches share one raise: the last to finish restores the setting)."""
    global _gc_batches, _gc_saved
    with _gc_lock:
        if _gc_batches == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(_BATCH_GC_THRESHOLD, *_gc_saved[1:])
        _gc_batches += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_batches -= 1
            if _gc_batches == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)


def _verify_and_commit(
    chunk: Sequence[int], trigger: VerificationTrigger, actor: User | None, context: _Context
) -> list[Outcome]:
    # Each chunk of a batch is its own unit of work (thousands of cases per commit, not one for a million).
    with unit_of_work():
        return _verify_chunk(chunk, trigger, actor, context)


def active_campaign_ids() -> list[int]:
    """Every campaign from submission until it ends (what `flask verify run --all-active` verifies)."""
    return list(db.session.scalars(select(Campaign.id).where(Campaign.state.in_(ACTIVE_STATES))))


@dataclass
class _Context:
    """What every chunk of a run shares: reference data, the policies and the record source."""

    hospitals: dict[int, tuple[str, str]]  # id -> (tier, region code)
    diseases: dict[int, tuple[str, int, int]]  # id -> (category, plausible cost from, to)
    policies: Mapping[PolicyKey, Policy]
    source: RecordSource

    @classmethod
    def load(cls) -> _Context:
        return cls(
            hospitals={h.id: (h.tier, h.region_code) for h in db.session.scalars(select(Hospital))},
            diseases={
                d.id: (d.category, d.cost_min_fen, d.cost_max_fen)
                for d in db.session.scalars(select(DiseaseRange))
            },
            policies=loaded_policies(),
            source=configured_source(),
        )


# The state and target fields a run may change on a campaign.
_WRITTEN = (
    "state",
    "state_before_suspension",
    "state_changed_at",
    "decision_reason",
    "target_fen",
    "requested_target_fen",
)


@dataclass(slots=True)
class _Case:
    """A campaign as a run reads and changes it: plain values read in bulk and written back in bulk. (ORM
    objects would cost more to load and flush than the checks cost to run.) Has the attributes of `Campaign`
    that the checks read and that `transitions.move_by_system` changes."""

    id: int
    state: str
    patient_name: str
    patient_id_ciphertext: bytes | None
    patient_id_index: str | None
    patient_birth_date: date | None
    patient_sex: str | None
    patient_region_code: str | None
    hospital_id: int | None
    disease_range_id: int | None
    admitted_on: date | None
    submitted_at: datetime | None
    stay_confirmed_at: datetime | None
    referral_filed: bool | None
    referral_confirmed_at: datetime | None
    cost_total_fen: int
    cost_in_policy_fen: int
    admissions: int
    next_year_admissions: int
    next_year_cost_fen: int
    target_fen: int
    requested_target_fen: int | None
    household_size: int | None
    household_income_fen: int
    savings_fen: int
    commercial_insurance_fen: int
    other_fundraising_fen: int
    assistance_claimed: bool
    state_before_suspension: str | None
    state_changed_at: datetime
    decision_reason: str

    def written(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _WRITTEN)


_CASE_COLUMNS = [Campaign.__table__.c[name] for name in _Case.__slots__]


@dataclass
class _Checked:
    """One case after the checks: the report row's values, the core report when the checks ran, and the
    reason in plain words (made only when the case is to be moved)."""

    values: dict[str, Any]
    core: CoreReport | None
    problem: VerificationProblem | None


def _load_cases(ids: Sequence[int]) -> list[_Case]:
    query = (
        select(*_CASE_COLUMNS)
        .where(any_of(Campaign.id, ids), Campaign.state.in_(ACTIVE_STATES))
        .order_by(Campaign.id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # A job and a command-line run on the same case: the second waits, then sees the first's result.
        query = query.with_for_update()
    return [_Case(*row) for row in db.session.execute(query)]


def _verify_chunk(
    ids: Sequence[int], trigger: VerificationTrigger, actor: User | None, context: _Context
) -> list[Outcome]:
    cases = _load_cases(ids)
    if not cases:
        return []
    indexes = {case.patient_id_index for case in cases if case.patient_id_index}
    records = _records(cases, context.source)
    active_counts = dict(
        db.session.execute(
            select(Campaign.patient_id_index, func.count())
            .where(any_of(Campaign.patient_id_index, indexes), Campaign.state.in_(ACTIVE_STATES))
            .group_by(Campaign.patient_id_index)
        ).all()
    )
    latest = _latest_reports([case.id for case in cases])
    before = {case.id: case.written() for case in cases}
    states_before = {case.id: case.state for case in cases}

    new_rows: dict[int, dict[str, Any]] = {}  # campaign id -> its new report
    moves: list[tuple[_Case, str, str]] = []
    decided: list[tuple[_Case, str]] = []  # moves whose reason is the new report
    created_at = utcnow()
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        for case in cases:
            checked = _check(
                case, records.get(case.id), active_counts.get(case.patient_id_index, 1) - 1, context
            )
            previous = latest.get(case.id)
            undecided = case.state in UNDECIDED
            if previous is not None and not undecided and _same(previous, checked.values):
                continue
            decision = checked.values["decision"]
            new_rows[case.id] = {
                **checked.values,
                "campaign_id": case.id,
                "created_at": created_at,
                "trigger": trigger.value,
                "requested_by_id": actor.id if actor else None,
                "previous_decision": previous.decision if previous else None,
                # A case's first decision is not a change, whatever an earlier run said meanwhile.
                "changed_outcome": previous is not None and previous.decision != decision and not undecided,
            }
            if undecided:
                if case.state == S.SUBMITTED:
                    moves.append((case, "begin_verification", ""))
                decided.append((case, DECISION_MOVES[VerificationDecision(decision)]))

    report_ids = insert_rows(VerificationReport.__table__, list(new_rows.values()))
    for new_row, report_id in zip(new_rows.values(), report_ids, strict=True):
        new_row["id"] = report_id
    # The reason is the report itself, written out in the reader's language when read (verification_text).
    moves.extend((case, move, report_reason(new_rows[case.id]["id"])) for case, move in decided)
    events: list[audit.Event] = []
    for case in cases:
        row = new_rows.get(case.id)
        if row is None:
            continue
        events.extend(_cap_target(case, row))
        if row["changed_outcome"]:
            events.append(
                audit.Event(
                    "campaign.verification_changed",
                    "campaign",
                    case.id,
                    before={"decision": row["previous_decision"]},
                    after={"decision": row["decision"], "report_id": row["id"], "trigger": trigger.value},
                )
            )
    audit.record_many(events, actor=actor)
    move_by_system(moves)
    updated_at = utcnow()
    update_rows(
        Campaign.__table__,
        [
            {"id": case.id, **dict(zip(_WRITTEN, case.written(), strict=True)), "updated_at": updated_at}
            for case in cases
            if case.written() != before[case.id]
        ],
    )

    outcomes = []
    for case in cases:
        row = new_rows.get(case.id)
        previous = latest.get(case.id)
        if row:
            report_id, decision = row["id"], row["decision"]
        else:
            assert previous is not None  # a case gets no new report only when its previous one still holds
            report_id, decision = previous.id, previous.decision
        outcomes.append(
            Outcome(
                campaign_id=case.id,
                report_id=report_id,
                decision=decision,
                stored=row is not None,
                changed_outcome=bool(row and row["changed_outcome"]),
                moved_to=case.state if case.state != states_before[case.id] else None,
            )
        )
    return outcomes


def _records(cases: Sequence[_Case], source: RecordSource) -> dict[int, Records | None]:
    """Each case's records by campaign id; None where the source could not answer."""
    if isinstance(source, DatabaseSource):
        found = source.records_for_many({case.patient_id_index for case in cases if case.patient_id_index})
        return {case.id: found.get(case.patient_id_index or "", Records()) for case in cases}
    records: dict[int, Records | None] = {}
    for case in cases:
        try:
            records[case.id] = source.records_for(case.patient_id_index or "", _id_number(case))
        except RecordSourceUnavailable:
            records[case.id] = None
    return records


def _latest_reports(campaign_ids: Sequence[int]) -> dict[int, VerificationReport]:
    newest = (
        select(func.max(VerificationReport.id))
        .where(any_of(VerificationReport.campaign_id, campaign_ids))
        .group_by(VerificationReport.campaign_id)
    )
    rows = db.session.scalars(select(VerificationReport).where(VerificationReport.id.in_(newest)))
    return {report.campaign_id: report for report in rows}


# A report's amounts: all None when the checks could not run.
_AMOUNTS = (
    "total_cost_fen",
    "basic_fen",
    "critical_illness_fen",
    "assistance_fen",
    "gap_fen",
    "capped_target_fen",
    "cap_reason",
)
# The stored values that say what a run found; equal values mean nothing changed.
_CONTENT = ("decision", "problem", "policy_version", "report", "records_snapshot", "capped_target_fen")


def _same(previous: VerificationReport, values: Mapping[str, Any]) -> bool:
    return all(getattr(previous, name) == values.get(name) for name in _CONTENT)


def _id_number(campaign: Campaign | _Case) -> str:
    if campaign.patient_id_ciphertext is None:
        return ""
    return pii.decrypt_id(campaign.patient_id_ciphertext)


def treatment_date(campaign: Campaign | _Case) -> date:
    """The admission date; without one, the day it was submitted (China time), whose year picks the rules."""
    if campaign.admitted_on is not None:
        return campaign.admitted_on
    moment: datetime = campaign.submitted_at or utcnow()
    return moment.astimezone(LOCAL_TIME).date()


def _check(case: _Case, records: Records | None, other_active: int, context: _Context) -> _Checked:
    """Run the checks for one case (no database writes)."""
    day = treatment_date(case)
    region = case.patient_region_code or ""
    policy = policy_for(context.policies, region, day.year)
    problem: VerificationProblem | None = None
    if policy is None:
        problem = VerificationProblem.NO_POLICY
    elif records is None:
        problem = VerificationProblem.RECORDS_UNAVAILABLE
    if problem is not None:
        values = {
            **dict.fromkeys(_AMOUNTS),
            "policy_region_code": policy.region_code if policy else region,
            "policy_year": day.year,
            "decision": VerificationDecision.NEEDS_REVIEW.value,
            "problem": problem.value,
            "policy_version": policy.version if policy else None,
            "report": None,
            "records_snapshot": None,
        }
        return _Checked(values, None, problem)

    assert policy is not None
    assert records is not None
    # A plan that runs into next year has that part costed under next year's rules, when they are loaded.
    next_policy = policy_for(context.policies, region, day.year + 1) if case.next_year_cost_fen > 0 else None
    report = verify_case(_facts(case, day, other_active, context), records, policy, next_policy)
    stored = report_to_dict(report)
    snapshot = stored.pop("records_snapshot")
    cascade = report.cascade
    values = {
        "policy_region_code": policy.region_code,
        "policy_year": day.year,
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
    return _Checked(values, report, None)


def _facts(case: _Case, day: date, other_active: int, context: _Context) -> CaseFacts:
    hospital = context.hospitals.get(case.hospital_id) if case.hospital_id else None
    disease = context.diseases.get(case.disease_range_id) if case.disease_range_id else None
    return CaseFacts(
        patient_name=case.patient_name,
        id_number=_id_number(case),
        birth_date=case.patient_birth_date or date.min,
        sex=case.patient_sex or "",
        patient_region_code=case.patient_region_code or "",
        treatment_date=day,
        hospital_registered=hospital is not None,
        hospital_tier=hospital[0] if hospital else "tertiary",  # type: ignore[arg-type]  # a str column; CHECK keeps it to the tiers
        hospital_region_code=hospital[1] if hospital else "",
        stay_confirmed=case.stay_confirmed_at is not None,
        referral_filed=case.referral_filed,
        referral_confirmed=case.referral_confirmed_at is not None,
        admissions=case.admissions,
        next_year_admissions=case.next_year_admissions,
        next_year_cost_fen=case.next_year_cost_fen,
        disease_category=disease[0] if disease else None,
        disease_cost_min_fen=disease[1] if disease else None,
        disease_cost_max_fen=disease[2] if disease else None,
        total_cost_fen=case.cost_total_fen,
        in_policy_cost_fen=case.cost_in_policy_fen,
        disclosed_household_size=case.household_size or 0,
        disclosed_annual_income_fen=case.household_income_fen,
        savings_fen=case.savings_fen,
        commercial_insurance_fen=case.commercial_insurance_fen,
        other_fundraising_fen=case.other_fundraising_fen,
        target_fen=asked_target_fen(case),
        other_active_campaigns=other_active,
        assistance_claimed=case.assistance_claimed,
    )


def asked_target_fen(campaign: Campaign | _Case) -> int:
    """The target the family asked for, before any cap."""
    if campaign.requested_target_fen is not None:
        return campaign.requested_target_fen
    return campaign.target_fen


def _cap_target(case: _Case, report: Mapping[str, Any]) -> list[audit.Event]:
    """Set the target to the new report's capped target (the asked target, lowered to the gap and the
    limit) while nobody has given against it yet. It never exceeds what the family asked for."""
    capped = report["capped_target_fen"]
    if (
        capped is None
        or capped == case.target_fen
        or report["decision"] == VerificationDecision.REJECTED
        or case.state not in BEFORE_FUNDRAISING
    ):
        return []
    before = case.target_fen
    if case.requested_target_fen is None:
        case.requested_target_fen = before
    case.target_fen = capped
    return [
        audit.Event(
            "campaign.cap_target",
            "campaign",
            case.id,
            before={"target_fen": before},
            after={"target_fen": capped, "cap_reason": report["cap_reason"], "report_id": report["id"]},
        )
    ]
