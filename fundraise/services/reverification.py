"""Re-verification after a records import: the active campaigns of the persons an import touched are queued
for another verification run (the `reverify_campaigns` job)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue
from fundraise.models import Campaign, VerificationTrigger
from fundraise.services.filing import ACTIVE_STATES
from fundraise.unit_of_work import transactional

# Above this many persons, reading every active campaign's patient is cheaper than asking for each person.
_PERSONS_PER_QUERY = 1000


def campaigns_of_persons(person_indexes: Collection[str]) -> list[int]:
    """The active campaigns whose patient is one of these persons (blind indexes)."""
    active = select(Campaign.id, Campaign.patient_id_index).where(Campaign.state.in_(ACTIVE_STATES))
    if len(person_indexes) <= _PERSONS_PER_QUERY:
        rows = db.session.execute(active.where(Campaign.patient_id_index.in_(list(person_indexes))))
        return sorted(campaign_id for campaign_id, _index in rows)
    # A large import (up to millions of persons) against at most some 100,000 active campaigns.
    wanted = person_indexes if isinstance(person_indexes, set | frozenset) else set(person_indexes)
    return sorted(campaign_id for campaign_id, index in db.session.execute(active) if index in wanted)


# Re-verification jobs carry this many campaign ids each: one import can touch a very large number of people.
REVERIFY_JOB_SIZE = 500


@transactional
def enqueue_reverification(person_indexes: Collection[str]) -> int:
    """After a records import: enqueue re-verification of the affected active campaigns; commits. Returns how
    many campaigns were queued."""
    ids = campaigns_of_persons(person_indexes)
    for start in range(0, len(ids), REVERIFY_JOB_SIZE):
        enqueue(
            "reverify_campaigns",
            campaign_ids=ids[start : start + REVERIFY_JOB_SIZE],
            trigger=VerificationTrigger.RECORDS_IMPORT.value,
        )
    return len(ids)
