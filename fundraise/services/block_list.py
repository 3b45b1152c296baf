"""Patients blocked after a confirmed fraud report: a new campaign with their ID number is refused at filing
until an administrator lifts the block. Patients are held by the blind index of the ID number only."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from fundraise import audit, person_keys
from fundraise.errors import Forbidden, NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import BlockedPatient, Campaign, CampaignReport, Role, User
from fundraise.text_input import text_problem
from fundraise.unit_of_work import transactional

LIFT_REASON_MIN, LIFT_REASON_MAX = 10, 2000


def find(patient_id_index: str | None) -> BlockedPatient | None:
    if not patient_id_index:
        return None
    return db.session.scalar(
        select(BlockedPatient).where(BlockedPatient.patient_id_index == patient_id_index)
    )


def blocked_reason(patient_id_index: str | None) -> str | None:
    """Why a campaign for this patient is refused, or None. It names no other campaign and no detail of it."""
    if find(patient_id_index) is None:
        return None
    return str(
        _(
            "This patient cannot raise money on Aidbridge after a confirmed fraud report; contact the charity"
            " if you believe this is wrong."
        )
    )


def block(campaign: Campaign, report: CampaignReport | None, actor: User) -> bool:
    """Block the campaign's patient (once), in the caller's unit of work; whether the patient is now blocked
    (False for a campaign without an ID number)."""
    index = campaign.patient_id_index
    if not index:
        return False
    if find(index) is not None:
        return True
    row = BlockedPatient(
        patient_id_index=index,
        campaign_id=campaign.id,
        report_id=report.id if report else None,
        created_by_id=actor.id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "patient_block.add",
        "patient_block",
        row.id,
        actor=actor,
        after={"campaign_id": campaign.id, "report_id": row.report_id},
    )
    return True


def block_for_campaign(campaign: Campaign) -> BlockedPatient | None:
    return find(campaign.patient_id_index)


@transactional
def lift_block(block_id: int, actor: User, reason: str) -> None:
    """An administrator lifts a block (a mistaken confirmation, or a court's decision), with the reason in
    the audit log. Commits."""
    if actor is None or not actor.has_role(Role.ADMIN):
        raise Forbidden(_("Only an administrator can lift a block."))
    row = db.session.get(BlockedPatient, block_id, with_for_update=True)
    if row is None:
        raise NotFound(_("This patient is not blocked."))
    reason = (reason or "").strip()
    if not LIFT_REASON_MIN <= len(reason) <= LIFT_REASON_MAX:
        message = _("Write %(min)d to %(max)d characters.", min=LIFT_REASON_MIN, max=LIFT_REASON_MAX)
        raise ValidationFailed(message, fields={"reason": [message]})
    if problem := text_problem(reason, one_line=False):
        raise ValidationFailed(problem, fields={"reason": [problem]})
    audit.record(
        "patient_block.lift",
        "patient_block",
        row.id,
        actor=actor,
        before={"campaign_id": row.campaign_id, "report_id": row.report_id},
        after=person_keys.seal_fields(
            person_keys.subject_for_patient(row.patient_id_index), {"reason": reason}
        ),
    )
    db.session.delete(row)
