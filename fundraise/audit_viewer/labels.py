"""Audit events in words for the viewer and its API: what each action means, what each kind of object is, who
acted (role and organisation), and a compact line for an event's before and after."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from fundraise.money import format_yuan
from fundraise.person_keys import SealedMarker
from fundraise.public.presenters import DOCUMENT_KINDS, STAFF_EVENTS, SYSTEM_ACTOR
from fundraise.services.access_log import View
from fundraise.services.audit_events import Actor, LoggedEvent
from fundraise.web.templating import ROLE_LABELS

# The campaign's own history (fundraise/public/presenters.py) and the other common actions.
ACTIONS = {
    **STAFF_EVENTS,
    "campaign.create": _l("Campaign started"),
    "consent.give": _l("Consent given"),
    "consent.withdraw": _l("Consent withdrawn"),
    "consent.own_requested": _l("Patient turned 14: own consent asked for"),
    "campaign.unpublish": _l("Campaign taken off public view"),
    "records.import": _l("Records feed imported"),
    "records.import_rejected": _l("Records feed refused"),
    "campaign.fraud_confirmed": _l("Fraud confirmed"),
    "campaign.close_out_requested": _l("Close-out requested"),
    "campaign.closed_out": _l("Campaign closed out"),
    "campaign.surplus_settling": _l("Money left over being settled"),
    "campaign.surplus_settled_in_part": _l("Money left over settled in part"),
    "report.create": _l("Report received"),
    "report.credible": _l("Report marked credible"),
    "report.evidence_request": _l("Evidence asked of the family"),
    "report.evidence_answer": _l("The family answered a report"),
    "report.dismiss": _l("Report dismissed"),
    "report.uphold": _l("Report upheld"),
    "report.fraud_confirmed": _l("Report: fraud confirmed"),
    "donation.start": _l("Donation started"),
    "donation.succeeded": _l("Donation received"),
    "donation.pending": _l("Donation being processed"),
    "donation.failed": _l("Donation failed"),
    "donation.canceled": _l("Donation cancelled"),
    "donation.refund_requested": _l("Refund requested"),
    "donation.refund": _l("Donation refunded"),
    "donation.refund_failed": _l("Refund failed"),
    "donation.dispute": _l("Donation disputed"),
    "donation.amount_mismatch": _l("Paid amount differs from the donation"),
    "disbursement.request": _l("Disbursement requested"),
    "disbursement.approve": _l("Disbursement approved"),
    "disbursement.reject": _l("Disbursement rejected"),
    "disbursement.cancel": _l("Disbursement cancelled"),
    "disbursement.export": _l("Disbursement exported for the bank"),
    "disbursement.pay": _l("Disbursement paid"),
    "settlement_account.propose": _l("Hospital account proposed"),
    "settlement_account.confirm": _l("Hospital account confirmed"),
    "settlement_account.withdraw": _l("Hospital account withdrawn"),
    "relief_project.created": _l("Relief project created"),
    "relief_project.updated": _l("Relief project changed"),
    "relief_project.status": _l("Relief project opened or closed"),
    "relief_offer.approved": _l("Relief offer approved"),
    "relief_offer.declined": _l("Relief offer declined"),
    "relief_offer.expired": _l("Relief offer expired"),
    "relief_offer.withdrawn": _l("Relief offer withdrawn"),
    "match_run.queued": _l("Matching run queued"),
    "match_run.finished": _l("Matching run finished"),
    "ledger.post": _l("Ledger entry posted"),
    "payments.reconciled": _l("Payments reconciled with the provider"),
    "patient_block.add": _l("Patient blocked"),
    "patient_block.lift": _l("Patient block lifted"),
    "charity.create": _l("Charity added"),
    "user.register": _l("Account registered"),
    "user.create": _l("Account created"),
    "user.update": _l("Account changed"),
    "user.activate": _l("Account activated"),
    "user.deactivate": _l("Account deactivated"),
    "user.password_change": _l("Password changed"),
    "user.password_reset": _l("Password reset"),
    "user.password_reset_link": _l("Password reset link sent"),
    "user.password_reset_links_revoke": _l("Password reset links revoked"),
    "user.sessions_end": _l("All sign-ins ended"),
    "user.sign_in_locked": _l("Sign-in locked after failed attempts"),
    "user.opened_for_family": _l("Account opened for a family"),
    "account.finance": _l("Finance permission changed"),
    "session.start": _l("Sign-in started"),
    "session.end": _l("Sign-in ended"),
    "token.create": _l("API token created"),
    "token.revoke": _l("API token revoked"),
}

OBJECT_TYPES = {
    "campaign": _l("Campaign"),
    "consent": _l("Consent"),
    "disbursement": _l("Disbursement"),
    "report": _l("Report"),
    "donation": _l("Donation"),
    "ledger_transaction": _l("Ledger entry"),
    "relief_project": _l("Relief project"),
    "relief_offer": _l("Relief offer"),
    "match_run": _l("Matching run"),
    "settlement_account": _l("Hospital account"),
    "charity": _l("Charity"),
    "user": _l("Account"),
    "login_session": _l("Sign-in"),
    "api_token": _l("API token"),
    "patient_block": _l("Patient block"),
    "import_batch": _l("Records import"),
    "register": _l("Register of recipients"),
    "register_sample": _l("Sample"),
    "finding": _l("Finding"),
    "hospital": _l("Hospital"),
}

# The fields an event's before and after hold most often.
FIELDS = {
    "status": _l("status"),
    "state": _l("state"),
    "reason": _l("reason"),
    "note": _l("note"),
    "campaign_id": _l("campaign"),
    "document_id": _l("document"),
    "kind": _l("kind"),
    "source": _l("source"),
    "amount_fen": _l("amount"),
}
SHORT_VALUE = 60  # characters of one value shown in the list; the API gives the whole event


def action_text(action: str) -> Markup:
    """The action in words, or its code, marked as code, where no label exists yet (never blank)."""
    label = ACTIONS.get(action)
    return Markup("{}").format(label) if label is not None else Markup("<code>{}</code>").format(action)


def object_text(object_type: str) -> Markup:
    label = OBJECT_TYPES.get(object_type)
    return Markup("{}").format(label) if label is not None else Markup("<code>{}</code>").format(object_type)


def actor_text(actor: Actor) -> str:
    """ "Charity staff · Hope Foundation", "Civil-affairs officer · Anhui Fuyang", "Aidbridge (automatic)"."""
    if actor.role == "system":
        return str(SYSTEM_ACTOR)
    role = str(ROLE_LABELS.get(actor.role, actor.role))
    return f"{role} · {actor.organisation}" if actor.organisation else role


def _value(name: str, value: Any) -> str:
    if name.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        return format_yuan(value)
    if name == "kind" and isinstance(value, str):
        return str(DOCUMENT_KINDS.get(value, value))
    text = "—" if value is None else str(value)
    return text if len(text) <= SHORT_VALUE else text[: SHORT_VALUE - 1] + "…"


def _name(name: str) -> Markup:
    """A field's label in the reader's language, or its stored name marked as code when it has none."""
    label = FIELDS.get(name)
    return Markup("{}").format(label) if label is not None else Markup("<code>{}</code>").format(name)


def _shown(name: str, value: Any) -> Markup:
    """A value as stored is data, not language: money in yuan, document kinds by name, the rest as code."""
    if isinstance(value, SealedMarker):  # an erased (or unreadable) personal detail: words, not data
        return Markup("<em>{}</em>").format(value)
    text = _value(name, value)
    if (name.endswith("_fen") and isinstance(value, int)) or (name == "kind" and text != str(value)):
        return Markup("{}").format(text)
    return Markup("<code>{}</code>").format(text)


def changes(event: LoggedEvent) -> list[Markup]:
    """Each field of before/after on one short line: "status: pending → approved", "note: …"."""
    before, after = event.before or {}, event.after or {}
    lines = []
    for name in [*before, *(key for key in after if key not in before)]:
        if name in before and name in after:
            if before[name] == after[name]:
                lines.append(Markup("{}: {}").format(_name(name), _shown(name, after[name])))
            else:
                lines.append(
                    Markup("{}: {} → {}").format(
                        _name(name), _shown(name, before[name]), _shown(name, after[name])
                    )
                )
        elif name in after:
            lines.append(Markup("{}: {}").format(_name(name), _shown(name, after[name])))
        else:
            lines.append(Markup("{}: {} → —").format(_name(name), _shown(name, before[name])))
    return lines


# What a look at private data was of (fundraise/services/access_log.py View.what).
VIEWED = {
    "id_number": _l("Full ID number"),
    "finances": _l("Household finances"),
    "document": _l("Private document"),
}
# Kinds added by findings (fundraise/services/documents.py) and any kind not labelled yet.
EXTRA_DOCUMENT_KINDS = {"finding_attachment": _l("Finding attachment")}


def viewed_text(view: View) -> str:
    """ "Full ID number", "Household finances", or the document's kind ("Diagnosis certificate #12")."""
    if view.what != "document":
        return str(VIEWED.get(view.what, view.what))
    kind = DOCUMENT_KINDS.get(view.document_kind) or EXTRA_DOCUMENT_KINDS.get(view.document_kind)
    text = str(kind) if kind is not None else str(VIEWED["document"])
    return f"{text} #{view.document_id}" if view.document_id is not None else text


def template_globals() -> dict[str, Any]:
    return {
        "audit_actor_text": actor_text,
        "audit_viewed_text": viewed_text,
        "audit_action_text": action_text,
        "audit_object_text": object_text,
        "audit_changes": changes,
    }
