"""Reproducible random samples of a jurisdiction's recipients, for an officer's spot checks.

A sample is `random.Random(seed).sample(sorted(ids), k)` over the recipients' campaign ids: anyone holding
the seed and the same recipients draws the same cases again, and the row keeps the seed, the population and
the ids drawn so the draw can be shown and checked later.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, select

from fundraise import audit
from fundraise.errors import NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, RegisterSample, Role, User
from fundraise.services import register
from fundraise.unit_of_work import transactional

MAX_SAMPLE_SIZE = 1_000
# Seeds an officer may type: any whole number from 0 to 2^63 - 1 (the column is a BIGINT).
MAX_SEED = 2**63 - 1
# A seed chosen for the officer stays short enough to read out and type back.
RANDOM_SEED_BELOW = 10**9
RECENT_SAMPLES = 20


def in_prefix(prefix: str) -> ColumnElement[bool]:
    return Campaign.patient_region_code.startswith(prefix, autoescape=True)


def recipient_ids(prefix: str) -> list[int]:
    """The campaign ids of every recipient under this region-code prefix, in ascending order."""
    return list(db.session.scalars(register.scope(prefix).order_by(Campaign.id)))


def sample_size(population: int, size: int | None, share_percent: int | None) -> int:
    """How many to draw: the size asked for, or the share rounded up (at least one of a non-empty set), never
    more than there are."""
    wanted = -(-population * share_percent // 100) if share_percent is not None else size or 0
    return min(wanted, population)


def draw(ids: list[int], seed: int, k: int) -> list[int]:
    """The same seed over the same ids draws the same k ids, in the order drawn."""
    return random.Random(seed).sample(sorted(ids), k)


def _checked(size: Any, share_percent: Any, seed: Any) -> tuple[int | None, int | None, int | None]:
    errors: dict[str, list[str]] = {}
    if (size is None) == (share_percent is None):
        message = _("Give either a number of recipients or a share, not both.")
        errors["size"] = [message]
    if size is not None and not (isinstance(size, int) and 1 <= size <= MAX_SAMPLE_SIZE):
        errors["size"] = [_("Enter a whole number from 1 to %(max)d.", max=MAX_SAMPLE_SIZE)]
    if share_percent is not None and not (isinstance(share_percent, int) and 1 <= share_percent <= 100):
        errors["share_percent"] = [_("Enter a whole percentage from 1 to 100.")]
    if seed is not None and not (isinstance(seed, int) and 0 <= seed <= MAX_SEED):
        errors["seed"] = [_("Enter a whole number from 0 to %(max)d, or leave it empty.", max=MAX_SEED)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    return size, share_percent, seed


def _officer_prefix(actor: User) -> str:
    if actor.role != Role.CIVIL_AFFAIRS_OFFICER or actor.jurisdiction_prefix is None:
        raise NotFound(_("Only civil-affairs officers draw samples of their recipients."))
    return actor.jurisdiction_prefix


@transactional
def draw_sample(
    actor: User, *, size: int | None = None, share_percent: int | None = None, seed: int | None = None
) -> RegisterSample:
    """Draw and keep a sample of the officer's recipients: `size` of them or `share_percent` of them, with the
    seed given (or a random one, recorded). Audit-logged."""
    prefix = _officer_prefix(actor)
    size, share_percent, seed = _checked(size, share_percent, seed)
    if seed is None:
        seed = secrets.randbelow(RANDOM_SEED_BELOW)
    ids = recipient_ids(prefix)
    chosen = draw(ids, seed, sample_size(len(ids), size, share_percent))
    sample = RegisterSample(
        region_prefix=prefix,
        size=size,
        share_percent=share_percent,
        seed=seed,
        population=len(ids),
        campaign_ids=chosen,
        drawn_by_id=actor.id,
    )
    db.session.add(sample)
    db.session.flush()
    audit.record(
        "register.sample",
        "register_sample",
        sample.id,
        actor=actor,
        after={
            "prefix": prefix,
            "size": size,
            "share_percent": share_percent,
            "seed": seed,
            "population": len(ids),
            "campaign_ids": chosen,
        },
    )
    return sample


def visible_to(sample: RegisterSample, user: User) -> bool:
    """Officers see the samples drawn within their jurisdiction; staff and admins every one."""
    if user.role in (Role.CHARITY_STAFF, Role.ADMIN):
        return True
    prefix = user.jurisdiction_prefix
    return (
        user.role == Role.CIVIL_AFFAIRS_OFFICER
        and prefix is not None
        and sample.region_prefix.startswith(prefix)
    )


def get_sample(sample_id: int, user: User) -> RegisterSample:
    """The sample, if this user may see it; NotFound otherwise (existence is not revealed)."""
    sample = db.session.get(RegisterSample, sample_id)
    if sample is None or not visible_to(sample, user):
        raise NotFound(_("We could not find that sample."))
    return sample


def recent_samples(user: User, limit: int = RECENT_SAMPLES) -> list[RegisterSample]:
    """The latest samples this user may see, newest first."""
    query = select(RegisterSample).order_by(RegisterSample.created_at.desc(), RegisterSample.id.desc())
    if user.role == Role.CIVIL_AFFAIRS_OFFICER:
        query = query.where(
            RegisterSample.region_prefix.startswith(user.jurisdiction_prefix or "", autoescape=True)
        )
    elif user.role not in (Role.CHARITY_STAFF, Role.ADMIN):
        return []
    return list(db.session.scalars(query.limit(limit)))


def sampled_campaigns(sample: RegisterSample) -> list[Campaign]:
    """The sampled recipients' campaigns, in the order drawn."""
    ids = [int(value) for value in sample.campaign_ids]
    found = {c.id: c for c in db.session.scalars(select(Campaign).where(Campaign.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]
