"""A person's request to delete their data (PIPL art. 47): what goes at once, what the law keeps until when,
and the request's record (`DeletionRequest`) with that outcome kind by kind, as codes with parameters.

- Goes at once: the account's name, e-mail and phone (the row stays, anonymised, since payments and audit
  events name it by id), the password, sign-ins, API tokens and reset links, drafts never submitted with their
  files, the names and messages on the person's gifts, their notifications, and their per-person keys
  (`person_keys.forget`), so the details sealed for them in the audit log become unreadable.
- Kept until its retention ends (fundraise/retention_policy.py): the accounting records of gifts and payments
  (30 years after their accounting year), and a submitted case's records and evidence (until the case closes,
  then the period of its rule). The daily retention run deletes them when due and completes the request.
- An open case (being verified, fundraising, suspended, or closed with money still held for the patient's
  treatment): the request is accepted and waits. The account stays usable so the family can finish: close out
  the campaign, or cancel it. The retention run carries the request out the day after the case has ended.
- Staff accounts (social workers, charity staff, officers, admins) are refused: an administrator deactivates
  them, and their actions stay attributed by id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select

from fundraise import audit, ledger, person_keys
from fundraise.errors import Forbidden, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    ApiToken,
    Campaign,
    CampaignState,
    DeletionRequest,
    DeletionState,
    Donation,
    LoginSession,
    Notification,
    PasswordResetToken,
    Role,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.retention_policy import rule_for
from fundraise.services import accounts, erasure
from fundraise.services.filing import ACTIVE_STATES
from fundraise.unit_of_work import unit_of_work

REQUEST_ACTION = "personal_data.deletion_request"
CARRY_OUT_ACTION = "personal_data.deletion"
ERASED = "erased"
# Kinds listed only when there is something of them.
COUNTED_KINDS = ("drafts", "gift_names")
RETAINED = "retained"
SELF_SERVICE_ROLES = (Role.FAMILY, Role.DONOR)


@dataclass(frozen=True)
class Item:
    """One kind of the person's data and what happens to it: erased now, or retained until a date."""

    kind: str
    outcome: str  # ERASED | RETAINED
    count: int = 0
    until: date | None = None
    basis: str = ""  # a code of retention_policy.LEGAL_BASES
    campaign_id: int | None = None
    # Kept while the campaign is open; its date is known once it ends (then `until` is set).
    while_open: bool = False

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"kind": self.kind, "outcome": self.outcome, "count": self.count}
        if self.until is not None:
            value["until"] = self.until.isoformat()
        if self.basis:
            value["basis"] = self.basis
        if self.while_open:
            value["while_open"] = True
        if self.campaign_id is not None:
            value["campaign_id"] = self.campaign_id
        return value


@dataclass
class Plan:
    """What a deletion would do now, for the page that asks to confirm it."""

    refused: bool = False
    open_campaigns: list[Campaign] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    @property
    def waits(self) -> bool:
        return bool(self.open_campaigns)


def may_request(user: User) -> bool:
    return user.role in SELF_SERVICE_ROLES


def _money_held(campaign_id: int) -> bool:
    fund = ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign_id)
    return fund is not None and ledger.balance(fund) > 0


def open_campaigns(user: User) -> list[Campaign]:
    """The person's cases still being worked, or holding money for the patient."""
    campaigns = db.session.scalars(
        select(Campaign).where(Campaign.applicant_id == user.id, Campaign.state != CampaignState.DRAFT)
    )
    return [
        campaign
        for campaign in campaigns
        if campaign.state in ACTIVE_STATES  # still being worked: its data is in use for the patient
        or (campaign.state == CampaignState.CLOSED and campaign.ended_at is None)
        or _money_held(campaign.id)
    ]


def _year_end_plus(moment: datetime | None, kind: str) -> date:
    year = (moment or utcnow()).year
    return date(year, 12, 31) + timedelta(days=rule_for(kind).days or 0)


def case_ended_at(campaign: Campaign) -> datetime | None:
    """When the case ended (closed out, cancelled or rejected); None while it is open."""
    if campaign.ended_at is not None:
        return campaign.ended_at
    if campaign.state in (CampaignState.CANCELLED, CampaignState.REJECTED):
        return campaign.state_changed_at
    return None


def case_until(campaign: Campaign) -> tuple[date, str, str]:
    """Until when a submitted case's records are kept, the rule's kind and its legal basis."""
    ended = case_ended_at(campaign) or utcnow()
    if campaign.state == CampaignState.REJECTED:
        rule = rule_for("rejected_case")
        return (ended + timedelta(days=rule.days or 0)).date(), rule.kind, rule.basis
    rule = rule_for("evidence_documents")
    return (ended + timedelta(days=rule.after_close_days or 0)).date(), rule.kind, rule.basis


def plan(user: User) -> Plan:
    """What deleting this account's data would erase now and keep until when (nothing is changed)."""
    if not may_request(user):
        return Plan(refused=True)
    result = Plan(open_campaigns=open_campaigns(user))
    drafts = _drafts(user)
    gifts = _gifts(user)
    items = [
        Item("account_profile", ERASED, 1),
        Item("sign_in", ERASED, _count(LoginSession, user) + _count(ApiToken, user)),
        Item("drafts", ERASED, len(drafts)),
        Item("gift_names", ERASED, len(gifts)),
        Item("notifications", ERASED, _count(Notification, user)),
        Item("audit_details", ERASED, 1),
    ]
    items = [item for item in items if item.count or item.kind not in COUNTED_KINDS]
    accounting = rule_for("accounting_records")
    if gifts:
        latest = max((gift.confirmed_at or gift.created_at) for gift in gifts)
        items.append(
            Item("donations", RETAINED, len(gifts), _year_end_plus(latest, accounting.kind), accounting.basis)
        )
    for campaign in db.session.scalars(
        select(Campaign)
        .where(Campaign.applicant_id == user.id, Campaign.state != CampaignState.DRAFT)
        .order_by(Campaign.id)
    ):
        ended = case_ended_at(campaign)
        until, _kind, basis = case_until(campaign)
        items.append(
            Item("case_records", RETAINED, 1, until if ended else None, basis, campaign.id, ended is None)
        )
        if ledger.find_account(AccountKind.CAMPAIGN_FUND, campaign.id) is not None:
            items.append(
                Item(
                    "case_accounting",
                    RETAINED,
                    1,
                    _year_end_plus(ended, accounting.kind) if ended else None,
                    accounting.basis,
                    campaign.id,
                    ended is None,
                )
            )
    result.items = items
    return result


def _count(model: Any, user: User) -> int:
    return len(list(db.session.scalars(select(model.id).where(model.user_id == user.id))))


def _drafts(user: User) -> list[Campaign]:
    return list(
        db.session.scalars(
            select(Campaign).where(Campaign.applicant_id == user.id, Campaign.state == CampaignState.DRAFT)
        )
    )


def _gifts(user: User) -> list[Donation]:
    return list(
        db.session.scalars(select(Donation).where(Donation.donor_id == user.id).order_by(Donation.id))
    )


def request_deletion(user: User, password: str) -> DeletionRequest:
    """Accept the person's request after checking their password; carry it out now, or keep it waiting
    for their open case. Staff accounts are refused."""
    if not may_request(user):
        raise Forbidden(
            _(
                "Staff accounts cannot be deleted here. An administrator deactivates them; what they did "
                "stays attributed to the account by its number."
            )
        )
    if accounts.authenticate(user.email, password) is None:
        message = _("This is not your password.")
        raise ValidationFailed(message, fields={"password": [message]})
    names: list[str] = []
    with unit_of_work():
        request = DeletionRequest(user_id=user.id, role=user.role, state=DeletionState.RECEIVED, outcome=[])
        db.session.add(request)
        db.session.flush()
        waiting = open_campaigns(user)
        audit.record(
            REQUEST_ACTION,
            "user",
            user.id,
            actor=user,
            after={"request_id": request.id, "waits": bool(waiting)},
        )
        if waiting:
            request.waiting_code = "campaign_open"
        else:
            names = carry_out(request, actor=user)
    erasure.unlink_files(names)
    return request


def carry_out(request: DeletionRequest, *, actor: User | None) -> list[str]:
    """Erase what may go now and record the outcome, in the caller's unit of work; the files to unlink."""
    user = request.user
    outline = plan(user)
    reason = f"deletion_request:{request.id}"
    drafts = _drafts(user)
    names = erasure.delete_drafts(drafts, reason=reason)
    for gift in _gifts(user):
        gift.display_name = ""
        gift.message = ""
        gift.receipt_email = ""
        gift.anonymous = True
        gift.donor_id = None  # the accounting record stays; whose it was does not
    db.session.execute(delete(Notification).where(Notification.user_id == user.id))
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    db.session.execute(delete(PasswordResetToken).where(PasswordResetToken.user_id == user.id))
    user.name = ""
    user.email = f"deleted-{user.id}@invalid"
    user.phone = None
    user.locale = None
    # Nothing hashes to this, so no password ever opens the account again.
    user.password_hash = "!erased:" + secrets.token_hex(16)
    user.active = False
    user.last_login_at = None
    forgotten = person_keys.forget([person_keys.subject_for_user(user.id)], reason=reason)
    retained = [item for item in outline.items if item.outcome == RETAINED]
    request.outcome = [item.to_json() for item in outline.items]
    request.carried_out_at = utcnow()
    request.waiting_code = None
    due = [item.until for item in retained if item.until is not None]
    request.remainder_due_on = min(due) if due else None
    request.state = DeletionState.PARTLY_DONE if retained else DeletionState.DONE
    audit.record(
        CARRY_OUT_ACTION,
        "deletion_request",
        request.id,
        actor=actor,
        after={
            "user_id": user.id,
            "drafts": len(drafts),
            "files": len(names),
            "keys_forgotten": forgotten,
            "retained_kinds": sorted({item.kind for item in retained}),
            "state": request.state,
        },
    )
    return names


def requests_of(user: User) -> list[DeletionRequest]:
    return list(
        db.session.scalars(
            select(DeletionRequest)
            .where(DeletionRequest.user_id == user.id)
            .order_by(DeletionRequest.id.desc())
        )
    )


def all_requests(*, limit: int = 200) -> list[DeletionRequest]:
    """Every request, newest first, for the admins' list."""
    return list(db.session.scalars(select(DeletionRequest).order_by(DeletionRequest.id.desc()).limit(limit)))


def complete_due(today: date, *, dry_run: bool) -> tuple[int, list[str]]:
    """Carry out requests whose open cases have ended, and move completed remainders on (the retention run's
    `deletion_remainders` kind). How many requests it touched, and the files to unlink."""
    names: list[str] = []
    touched = 0
    for request in db.session.scalars(
        select(DeletionRequest).where(DeletionRequest.state == DeletionState.RECEIVED)
    ):
        if open_campaigns(request.user):
            continue
        touched += 1
        if not dry_run:
            names += carry_out(request, actor=None)
    for request in db.session.scalars(
        select(DeletionRequest).where(
            DeletionRequest.state == DeletionState.PARTLY_DONE, DeletionRequest.remainder_due_on <= today
        )
    ):
        touched += 1
        if dry_run:
            continue
        later = [
            date.fromisoformat(item["until"])
            for item in request.outcome
            if item.get("until") and date.fromisoformat(item["until"]) > today
        ]
        request.remainder_due_on = min(later) if later else None
        if not later:
            request.state = DeletionState.DONE
        audit.record(
            "personal_data.deletion_remainder",
            "deletion_request",
            request.id,
            actor=None,
            after={"state": request.state},
        )
    return touched, names
