"""The records the shell finds for a patient's identity number, which of them is valid on the treatment day,
and the JSON-ready snapshot a report keeps of them.

Basic medical insurance enrolments, critical-illness entitlements and civil-affairs assistance statuses, as
plain data (the shell reads them from the records service or its database). Nothing here reads the clock, the
database or the network.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from verification.policy import AssistanceClass, Policy, Scheme, class_strength
from verification.report import JsonValue

__all__ = [
    "BasicEnrolment",
    "CivilAffairsStatus",
    "CriticalIllnessEntitlement",
    "Records",
    "active_enrolment",
    "active_entitlement",
    "records_snapshot",
    "valid_status",
]


@dataclass(frozen=True, slots=True)
class BasicEnrolment:
    """A basic medical insurance enrolment; `valid_to` None means still open."""

    person_name: str
    scheme: Scheme
    pooling_region: str
    valid_from: datetime.date
    valid_to: datetime.date | None
    ytd_reimbursed_fen: int
    source_record_id: str
    # The in-policy cost the patient paid this year after basic insurance (None: the feed does not say), and
    # the day the year-to-date figures of this record stand at (None: taken as before the treatment).
    ytd_in_policy_self_pay_fen: int | None = None
    ytd_as_of: datetime.date | None = None


@dataclass(frozen=True, slots=True)
class CriticalIllnessEntitlement:
    """Cover by critical-illness insurance (or the employee large-expense cover)."""

    person_name: str
    pooling_region: str
    valid_from: datetime.date
    valid_to: datetime.date | None
    ytd_reimbursed_fen: int
    source_record_id: str
    ytd_as_of: datetime.date | None = None


@dataclass(frozen=True, slots=True)
class CivilAffairsStatus:
    """A civil-affairs assistance status. `ytd_assistance_fen` is medical assistance already paid this year
    (0 when the feed does not say)."""

    person_name: str
    assistance_class: AssistanceClass
    valid_from: datetime.date
    valid_to: datetime.date | None
    household_size: int
    monthly_household_income_fen: int
    region_code: str
    source_record_id: str
    ytd_assistance_fen: int = 0
    ytd_as_of: datetime.date | None = None


@dataclass(frozen=True, slots=True)
class Records:
    """Every record found for the patient's identity number (the shell looks them up by blind index)."""

    enrolments: Sequence[BasicEnrolment] = ()
    critical_illness: Sequence[CriticalIllnessEntitlement] = ()
    civil_affairs: Sequence[CivilAffairsStatus] = ()


# ---------------------------------------------------------------------------------------------------------
# Record selection


def _valid_on(valid_from: datetime.date, valid_to: datetime.date | None, day: datetime.date) -> bool:
    return valid_from <= day and (valid_to is None or day <= valid_to)


def active_enrolment(
    enrolments: Sequence[BasicEnrolment], day: datetime.date, policy: Policy
) -> BasicEnrolment | None:
    """The enrolment active on `day`; with several, one in the policy's region, then employee, then newest."""
    active = [e for e in enrolments if _valid_on(e.valid_from, e.valid_to, day)]
    if not active:
        return None
    return max(
        active,
        key=lambda e: (
            policy.covers(e.pooling_region),
            e.scheme == "employee",
            e.valid_from,
            e.source_record_id,
        ),
    )


def active_entitlement(
    entitlements: Sequence[CriticalIllnessEntitlement], day: datetime.date
) -> CriticalIllnessEntitlement | None:
    active = [e for e in entitlements if _valid_on(e.valid_from, e.valid_to, day)]
    return max(active, key=lambda e: (e.valid_from, e.source_record_id)) if active else None


def valid_status(statuses: Sequence[CivilAffairsStatus], day: datetime.date) -> CivilAffairsStatus | None:
    """The strongest civil-affairs status valid on `day`."""
    valid = [s for s in statuses if _valid_on(s.valid_from, s.valid_to, day)]
    if not valid:
        return None
    return max(valid, key=lambda s: (class_strength(s.assistance_class), s.valid_from, s.source_record_id))


# ---------------------------------------------------------------------------------------------------------
# Snapshot


def _day(value: datetime.date | None) -> str | None:
    return None if value is None else value.isoformat()


def records_snapshot(
    records: Records,
    enrolment: BasicEnrolment | None,
    entitlement: CriticalIllnessEntitlement | None,
    status: CivilAffairsStatus | None,
) -> dict[str, JsonValue]:
    """A JSON-ready copy of the records the checks looked at, and which of them the cascade used."""
    return {
        "enrolments": [
            {
                "source_record_id": r.source_record_id,
                "person_name": r.person_name,
                "scheme": r.scheme,
                "pooling_region": r.pooling_region,
                "valid_from": r.valid_from.isoformat(),
                "valid_to": _day(r.valid_to),
                "ytd_reimbursed_fen": r.ytd_reimbursed_fen,
                "ytd_in_policy_self_pay_fen": r.ytd_in_policy_self_pay_fen,
                "ytd_as_of": _day(r.ytd_as_of),
            }
            for r in records.enrolments
        ],
        "critical_illness": [
            {
                "source_record_id": r.source_record_id,
                "person_name": r.person_name,
                "pooling_region": r.pooling_region,
                "valid_from": r.valid_from.isoformat(),
                "valid_to": _day(r.valid_to),
                "ytd_reimbursed_fen": r.ytd_reimbursed_fen,
                "ytd_as_of": _day(r.ytd_as_of),
            }
            for r in records.critical_illness
        ],
        "civil_affairs": [
            {
                "source_record_id": r.source_record_id,
                "person_name": r.person_name,
                "assistance_class": r.assistance_class,
                "valid_from": r.valid_from.isoformat(),
                "valid_to": _day(r.valid_to),
                "household_size": r.household_size,
                "monthly_household_income_fen": r.monthly_household_income_fen,
                "region_code": r.region_code,
                "ytd_assistance_fen": r.ytd_assistance_fen,
                "ytd_as_of": _day(r.ytd_as_of),
            }
            for r in records.civil_affairs
        ],
        "used": {
            "enrolment": enrolment.source_record_id if enrolment else None,
            "critical_illness": entitlement.source_record_id if entitlement else None,
            "civil_affairs": status.source_record_id if status else None,
        },
    }
