"""The campaign state machine (DESIGN §4). Every transition is checked for permission, written to the audit
log and followed by a notification job. The states' labels and explanations are in `fundraise.states`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from fundraise import audit, person_keys
from fundraise.access import is_applicant_side, is_staff
from fundraise.errors import Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.jobs.outbox import enqueue, enqueue_many
from fundraise.models import Campaign, CampaignReport, CampaignState, User
from fundraise.models.campaigns import UNRESOLVED_REPORTS
from fundraise.models.columns import utcnow
from fundraise.services.consent_rules import missing_consents
from fundraise.services.filing import ACTIVE_STATES, missing_items
from fundraise.states import state_label
from fundraise.unit_of_work import transactional

S = CampaignState

# --- the state machine -----------------------------------------------------------------------------------

Actor = Callable[[User | None, Campaign], bool]


def _applicant(user: User | None, campaign: Campaign) -> bool:
    return is_applicant_side(user, campaign)


def _staff(user: User | None, campaign: Campaign) -> bool:
    return is_staff(user)


def _system(user: User | None, campaign: Campaign) -> bool:
    return user is None


def _applicant_or_staff(user: User | None, campaign: Campaign) -> bool:
    return _applicant(user, campaign) or _staff(user, campaign)


# A decision by staff (verify, reject, suspend, reinstate) is explained in writing: shown to the family, and
# for an approval or a suspension on the public page.
DECISION_REASON_MIN, REASON_MAX = 10, 2000


@dataclass(frozen=True)
class Transition:
    """One named move of the state machine and every rule about it: who may make it, from where, what it
    needs. Pages, the API and jobs all call `transition`, so none of them can skip a rule."""

    name: str
    sources: frozenset[str]
    target: str | None  # None: back to the state before suspension
    allowed: Actor
    label: Any
    needs_reason: bool = False
    # Characters a person's reason needs (the system's own moves give theirs in code).
    reason_min: int = 1
    # A further condition on the campaign: returns why the move is refused now, or None.
    blocked_by: Callable[[Campaign], str | None] | None = None


def _open_reports(campaign: Campaign) -> str | None:
    """A suspension is lifted only once every report about the campaign has been resolved."""
    still_open = db.session.scalar(
        select(CampaignReport.id).where(
            CampaignReport.campaign_id == campaign.id, CampaignReport.status.in_(UNRESOLVED_REPORTS)
        )
    )
    if still_open is None:
        return None
    return str(_("Resolve every open report about this campaign before reinstating it."))


def _page_consent_withdrawn(campaign: Campaign) -> str | None:
    """A campaign whose family withdrew consent to the public page is not shown, so it cannot take gifts
    until the family gives that consent again (fundraise.services.consents)."""
    if campaign.unpublished_at is None:
        return None
    return str(_("The family withdrew consent to the public page. Give it again before opening fundraising."))


TRANSITIONS = {
    t.name: t
    for t in [
        Transition("submit", frozenset({S.DRAFT}), S.SUBMITTED, _applicant, _l("Submit for verification")),
        Transition(
            "begin_verification", frozenset({S.SUBMITTED}), S.VERIFYING, _system, _l("Begin verification")
        ),
        Transition(
            "flag_for_review", frozenset({S.VERIFYING}), S.NEEDS_REVIEW, _system, _l("Flag for review")
        ),
        Transition(
            "verify",
            frozenset({S.VERIFYING, S.NEEDS_REVIEW}),
            S.VERIFIED,
            lambda u, c: _system(u, c) or _staff(u, c),
            _l("Approve"),
            needs_reason=True,
            reason_min=DECISION_REASON_MIN,
        ),
        Transition(
            "reject",
            frozenset({S.VERIFYING, S.NEEDS_REVIEW}),
            S.REJECTED,
            lambda u, c: _system(u, c) or _staff(u, c),
            _l("Reject"),
            needs_reason=True,
            reason_min=DECISION_REASON_MIN,
        ),
        Transition(
            "open_fundraising",
            frozenset({S.VERIFIED}),
            S.FUNDRAISING,
            _applicant_or_staff,
            _l("Open fundraising"),
            blocked_by=_page_consent_withdrawn,
        ),
        Transition(
            "close",
            frozenset({S.FUNDRAISING}),
            S.CLOSED,
            # The system closes a campaign when donations reach its target.
            lambda u, c: _system(u, c) or _applicant_or_staff(u, c),
            _l("Close fundraising"),
        ),
        Transition(
            "suspend",
            frozenset({S.VERIFIED, S.FUNDRAISING}),
            S.SUSPENDED,
            _staff,
            _l("Suspend"),
            needs_reason=True,
            reason_min=DECISION_REASON_MIN,
        ),
        Transition(
            "reinstate",
            frozenset({S.SUSPENDED}),
            None,
            _staff,
            _l("Reinstate"),
            needs_reason=True,
            reason_min=DECISION_REASON_MIN,
            blocked_by=_open_reports,
        ),
        Transition(
            "cancel",
            frozenset(
                {S.DRAFT, S.SUBMITTED, S.VERIFYING, S.NEEDS_REVIEW, S.VERIFIED, S.FUNDRAISING, S.SUSPENDED}
            ),
            S.CANCELLED,
            _applicant_or_staff,
            _l("Cancel campaign"),
            needs_reason=True,
        ),
    ]
}


def available_transitions(campaign: Campaign, user: User | None) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if campaign.state in t.sources and t.allowed(user, campaign)]


@transactional
def transition(campaign: Campaign, name: str, *, actor: User | None, reason: str = "") -> Campaign:
    """Move a campaign along one named transition and commit, or refuse with a clear error (nothing written)."""
    rule = TRANSITIONS.get(name)
    if rule is None:
        raise IllegalTransition(_("Unknown action: %(name)s.", name=name))
    if not rule.allowed(actor, campaign):
        raise Forbidden(_("You may not %(action)s this campaign.", action=str(rule.label).lower()))
    if campaign.state not in rule.sources:
        raise IllegalTransition(
            _(
                "A campaign that is %(state)s cannot be moved by \u201c%(action)s\u201d.",
                state=state_label(campaign.state).lower(),
                action=rule.label,
            )
        )
    reason = (reason or "").strip()
    if rule.needs_reason and actor is not None:
        _check_reason(rule, reason)
    if rule.blocked_by is not None and (why := rule.blocked_by(campaign)) is not None:
        raise IllegalTransition(why)
    if name == "submit":
        _require_complete(campaign)
        # Two active campaigns for one patient would double-count the gap.
        _refuse_duplicate_patient(campaign)

    before, target = _move(campaign, rule, reason)
    event = audit.record(
        f"campaign.{name}",
        "campaign",
        campaign.id,
        actor=actor,
        before={"state": before},
        after={"state": target, **_reason_kept(campaign, reason)},
    )
    db.session.flush()  # the notification names the event
    enqueue("notify_state_change", campaign_id=campaign.id, audit_event_id=event.id)
    if name == "submit":
        enqueue("start_verification", campaign_id=campaign.id)
    return campaign


def _check_reason(rule: Transition, reason: str) -> None:
    if not reason:
        raise ValidationFailed(_("Please give a reason."), fields={"reason": [_("A reason is required.")]})
    if not rule.reason_min <= len(reason) <= REASON_MAX:
        message = _("Write the reason in %(min)d to %(max)d characters.", min=rule.reason_min, max=REASON_MAX)
        raise ValidationFailed(message, fields={"reason": [message]})


class StateHolder(Protocol):
    """What a transition changes: a `Campaign`, or a plain row of its state fields (batch work)."""

    id: int
    state: str
    state_before_suspension: str | None
    state_changed_at: datetime
    submitted_at: datetime | None
    decision_reason: str


def _move(campaign: StateHolder, rule: Transition, reason: str) -> tuple[str, str]:
    """Set the campaign's state fields for a transition already allowed; returns (state before, after)."""
    before = campaign.state
    if rule.target is None:
        target = campaign.state_before_suspension or S.FUNDRAISING
        campaign.state_before_suspension = None
    else:
        target = rule.target
    if target == S.SUSPENDED:
        campaign.state_before_suspension = before
    campaign.state = target
    campaign.state_changed_at = utcnow()
    if rule.name == "submit":
        campaign.submitted_at = utcnow()
    if rule.needs_reason and reason:
        campaign.decision_reason = reason[:2000]
    return before, target


def _reason_kept(campaign: Campaign, reason: str) -> dict[str, object]:
    """The reason as the audit log keeps it: the system's codes ("@...") in the clear, a person's words sealed
    for the case's person (they may say anything about the patient, and the log is kept for good)."""
    if not reason or (reason.startswith("@") and " " not in reason):
        return {"reason": reason}
    return person_keys.seal_for_campaign(campaign.id, {"reason": reason})


def move_by_system(moves: Sequence[tuple[StateHolder, str, str]]) -> None:
    """Make system transitions (campaign, name, reason) in the caller's transaction, without committing.

    The same rules and audit events as `transition` with `actor=None`, written in bulk: the verification
    service moves thousands of cases per commit with it. It sets the state fields of what it is given: a
    `Campaign` is written by the session's flush, a plain row by the caller. The family is notified of the
    state each campaign ends in, not of states it passed through in the same commit (nobody could have seen
    those). A move the rules refuse raises, and the caller's transaction is then to be rolled back.
    """
    events: list[audit.Event] = []
    for campaign, name, reason in moves:
        rule = TRANSITIONS[name]
        # The rules' checks of a system caller (None) never look at the campaign itself.
        if not rule.allowed(None, campaign) or campaign.state not in rule.sources:  # type: ignore[arg-type]  # a StateHolder, not a Campaign: see above
            raise IllegalTransition(
                _("Campaign %(id)s cannot be moved by %(action)s.", id=campaign.id, action=name)
            )
        before, target = _move(campaign, rule, reason.strip())
        events.append(
            audit.Event(
                f"campaign.{name}",
                "campaign",
                campaign.id,
                before={"state": before},
                after={"state": target, "reason": reason.strip()},
            )
        )
    event_ids = audit.record_many(events, actor=None)
    last_event = {
        campaign.id: event_id for (campaign, _n, _r), event_id in zip(moves, event_ids, strict=True)
    }
    enqueue_many(
        "notify_state_change",
        [
            {"campaign_id": campaign_id, "audit_event_id": event_id}
            for campaign_id, event_id in last_event.items()
        ],
    )


# --- what a submission needs (the fields themselves are filing's) ------------------------------------


def _require_complete(campaign: Campaign) -> None:
    # The separate consents (PIPL arts. 29 and 25) are asked for apart from the fields, and checked here so
    # that pages, the API and any other caller refuse a submission without them alike.
    missing = {**missing_items(campaign), **missing_consents(campaign)}
    if missing:
        raise ValidationFailed(_("The campaign is not complete yet."), fields=missing)


def _refuse_duplicate_patient(campaign: Campaign) -> None:
    other = db.session.scalar(
        select(Campaign.id).where(
            Campaign.patient_id_index == campaign.patient_id_index,
            Campaign.id != campaign.id,
            Campaign.state.in_(ACTIVE_STATES),
        )
    )
    if other is not None:
        raise ValidationFailed(
            _("This patient already has an active campaign. One patient may have one active campaign."),
            fields={"patient_id_number": [_("This patient already has an active campaign.")]},
        )
