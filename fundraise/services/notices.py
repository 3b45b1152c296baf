"""Notices to people: a campaign's state changed or a charity approved support for it (to its family and the
social worker who filed it), or an account's sign-in was locked (to its owner). Each is stored once per event, whoever runs the job how often,
and e-mailed once when SMTP is configured."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select, update

from fundraise import mail, person_keys
from fundraise.database import insert_unless_present
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, Disbursement, Notification, Offer, User
from fundraise.models.columns import utcnow
from fundraise.notifications import render_notification
from fundraise.unit_of_work import transactional, unit_of_work


def notify_state_change(campaign_id: int, audit_event_id: int) -> None:
    """The campaign's family (and its social worker) learn of the state change the audit event records."""
    with unit_of_work():
        campaign = db.session.get(Campaign, campaign_id)
        event = db.session.get(AuditEvent, audit_event_id)
        if campaign is None or event is None:
            return
        recipients = sorted(
            {campaign.applicant_id, *([campaign.filed_by_id] if campaign.filed_by_id else [])}
        )
        params = {
            "campaign_id": campaign.id,
            "title": campaign.title,
            "from_state": (event.before or {}).get("state"),
            "to_state": (event.after or {}).get("state"),
            # A person's words are sealed in the event; once erased, the notice goes without them.
            "reason": _reason(event),
        }
        keys = [
            _store(f"state:{audit_event_id}:{user_id}", user_id, "state_change", params, campaign.id)
            for user_id in recipients
        ]
    for key, user_id in zip(keys, recipients, strict=True):
        email_once(key, user_id)


def _reason(event: AuditEvent) -> str:
    reason = (person_keys.open_fields(event.after) or {}).get("reason")
    return reason if isinstance(reason, str) else ""


def notify_relief_approved(offer_id: int) -> None:
    """The campaign's family (and its social worker) learn that a charity approved support for the case."""
    with unit_of_work():
        offer = db.session.get(Offer, offer_id)
        if offer is None:
            return
        campaign = offer.campaign
        recipients = sorted(
            {campaign.applicant_id, *([campaign.filed_by_id] if campaign.filed_by_id else [])}
        )
        params = {
            "campaign_id": campaign.id,
            "title": campaign.title,
            "charity_id": offer.project.charity_id,
            "project": offer.project.name,
            "amount_fen": offer.amount_fen,
        }
        keys = [
            _store(f"relief:{offer_id}:{user_id}", user_id, "relief_approved", params, campaign.id)
            for user_id in recipients
        ]
    for key, user_id in zip(keys, recipients, strict=True):
        email_once(key, user_id)


def notify_disbursement(disbursement_id: int, event: str) -> None:
    """The campaign's family, its social worker and the requester learn that a disbursement was approved,
    paid, rejected or cancelled (`event`), once per event and person."""
    with unit_of_work():
        disbursement = db.session.get(Disbursement, disbursement_id)
        if disbursement is None:
            return
        campaign = disbursement.campaign
        recipients = sorted(
            {
                campaign.applicant_id,
                disbursement.requested_by_id,
                *([campaign.filed_by_id] if campaign.filed_by_id else []),
            }
        )
        params = {
            "campaign_id": campaign.id,
            "title": campaign.title,
            "disbursement_id": disbursement.id,
            "event": event,
            "amount_fen": disbursement.amount_fen,
            "hospital_id": disbursement.hospital_id,
            "note": disbursement.decision_note,
            "reference": disbursement.transfer_reference or "",
        }
        keys = [
            _store(
                f"disbursement:{disbursement_id}:{event}:{user_id}",
                user_id,
                "disbursement",
                params,
                campaign.id,
            )
            for user_id in recipients
        ]
    for key, user_id in zip(keys, recipients, strict=True):
        email_once(key, user_id)


def notify_sign_in_locked(user_id: int, locked_until: str, failures: int) -> None:
    """A notice in the account (and an e-mail) that sign-in is locked until `locked_until` (ISO 8601, UTC)
    after `failures` failed attempts. Once per lock."""
    with unit_of_work():
        if db.session.get(User, user_id) is None:
            return
        key = _store(
            f"sign_in_locked:{user_id}:{locked_until}",
            user_id,
            "sign_in_locked",
            {"locked_until": locked_until, "failures": failures},
            None,
        )
    email_once(key, user_id)


def _store(key: str, user_id: int, kind: str, params: dict[str, Any], campaign_id: int | None) -> str:
    # The job may run twice, even at once in two processes: the dedupe key decides, without an error.
    insert_unless_present(
        Notification.__table__,
        {
            "user_id": user_id,
            "dedupe_key": key,
            "kind": kind,
            "campaign_id": campaign_id,
            "params": params,
            "created_at": utcnow(),
        },
        ["dedupe_key"],
    )
    return key


@transactional
def email_once(dedupe_key: str, user_id: int) -> None:
    """E-mail a stored notification unless it was e-mailed already (or there is no SMTP). Claimed first, in
    this unit of work: a concurrent run waits on the row, then finds it marked; if sending fails, the unit
    rolls back, the claim with it, and the outbox's retry sends it."""
    if not mail.configured():
        return
    claimed = db.session.execute(
        update(Notification)
        .where(Notification.dedupe_key == dedupe_key, Notification.emailed_at.is_(None))
        .values(emailed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # execute() is typed Result; an UPDATE's is a CursorResult
        return
    notification = db.session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    user = db.session.get(User, user_id)
    if notification is None or user is None:
        return
    with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject, body = render_notification(notification)
    mail.send(mail.message(user.email, subject, body))
