"""Filing a campaign step by step: a step's fields and files are stored together, or not at all."""

from __future__ import annotations

from typing import Any

from fundraise import audit
from fundraise.models import Campaign, Role, User
from fundraise.services import accounts, documents
from fundraise.services.campaigns import create_draft, update_draft
from fundraise.services.documents import Upload
from fundraise.unit_of_work import unit_of_work


def save_step(campaign: Campaign, actor: User, data: dict[str, Any], files: list[tuple[str, Upload]]) -> None:
    """The files are checked and re-encoded first, with no transaction open (no lock is held while images
    decode); then the files and the fields are one unit of work: a field the draft refuses removes the files
    written with it."""
    prepared = documents.prepare_for(campaign, actor, files) if files else []
    with unit_of_work():
        if prepared:
            documents.store(campaign, actor, prepared)
        if data:
            update_draft(campaign, actor, data)


def open_case_for_family(
    social_worker: User, family: User | None, *, email: str, name: str, phone: str | None, password: str
) -> tuple[User, Campaign]:
    """A social worker starts a draft for a family of their hospital, opening the family's account first
    when it has none (with `password`, which the worker hands over): one unit of work, so a draft the
    service refuses leaves no account behind."""
    with unit_of_work():
        if family is None:
            family = accounts.register(email, name, password, Role.FAMILY)
            family.phone = (phone or "").strip() or None
            audit.record(
                "user.opened_for_family",
                "user",
                family.id,
                actor=social_worker,
                after={"hospital_id": social_worker.hospital_id},
            )
        hospital_code = social_worker.hospital.code if social_worker.hospital else None
        campaign = create_draft(family, {"hospital_code": hospital_code}, filed_by=social_worker)
    return family, campaign
