"""What each campaign state means, told honestly to families, donors and staff."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from fundraise.models import CampaignState as S

# Keyed by state value: a CampaignState is a str, so a plain string from a row or a form finds its label too.
LABELS: dict[str, Any] = {
    S.DRAFT: _l("Draft"),
    S.SUBMITTED: _l("Submitted"),
    S.VERIFYING: _l("Being verified"),
    S.NEEDS_REVIEW: _l("Awaiting review"),
    S.VERIFIED: _l("Verified"),
    S.REJECTED: _l("Not approved"),
    S.FUNDRAISING: _l("Fundraising"),
    S.CLOSED: _l("Closed"),
    S.SUSPENDED: _l("Suspended"),
    S.CANCELLED: _l("Cancelled"),
}

EXPLANATIONS = {
    S.DRAFT: _l("Not yet submitted. Only the family and their social worker can see it."),
    S.SUBMITTED: _l("Submitted for verification. It does not take donations until it is verified."),
    S.VERIFYING: _l("The case is being checked against insurance and civil-affairs records."),
    S.NEEDS_REVIEW: _l("A charity reviewer is checking this case by hand before it can raise money."),
    S.VERIFIED: _l("The case has been verified. Fundraising has not opened yet."),
    S.REJECTED: _l("The case was not approved. It does not take donations."),
    S.FUNDRAISING: _l("Verified and raising money. Funds are paid only to the hospital."),
    S.CLOSED: _l("Fundraising has ended. No new donations are taken."),
    S.SUSPENDED: _l(
        "Suspended while a report about this campaign is investigated. Donations and payouts are frozen."
    ),
    S.CANCELLED: _l("Cancelled by the family or the platform. It does not take donations."),
}

# The colour family of the state badge (CSS class suffix).
TONES = {
    S.DRAFT: "muted",
    S.SUBMITTED: "info",
    S.VERIFYING: "info",
    S.NEEDS_REVIEW: "warn",
    S.VERIFIED: "ok",
    S.REJECTED: "bad",
    S.FUNDRAISING: "ok",
    S.CLOSED: "muted",
    S.SUSPENDED: "bad",
    S.CANCELLED: "muted",
}

# States the public may see; drafts and cases still under first review stay private. Browse lists and search
# show exactly these; a cancelled campaign that took money and says why it ended (`ENDED_TEXTS`) keeps its own
# page public too (`is_public`), but is never listed.
PUBLIC_STATES = frozenset({S.VERIFIED, S.FUNDRAISING, S.CLOSED, S.SUSPENDED})

# Why a campaign that took money ended (Campaign.ended_code), as its public page tells donors; %(date)s is
# Campaign.ended_at.
ENDED_TEXTS: dict[str, Any] = {
    "fraud_confirmed": _l(
        "After a report, the charity confirmed this campaign was fraudulent on %(date)s. Every donor is being"
        " refunded; no more money is paid out."
    ),
    "closed_out": _l(
        "Treatment has ended; the family sent the final bill on %(date)s. Money left was refunded or moved to"
        " the relief pool as each donor chose."
    ),
    "close_out_requested": _l("Treatment has ended; the charity is settling what is left."),
}
ENDED_TONES = {"fraud_confirmed": "bad", "closed_out": "muted", "close_out_requested": "info"}


def is_public(state: str, ended_code: str | None) -> bool:
    """Whether anyone may open a campaign's page: a public state, or cancelled with the reason it ended."""
    return state in PUBLIC_STATES or (state == S.CANCELLED and bool(ended_code))


def ended_text(code: str | None, date: str) -> str:
    """The banner of an ended campaign (empty for a code not known here); `date` already formatted."""
    text = ENDED_TEXTS.get(code or "")
    return str(text) % {"date": date} if text is not None else ""


def state_label(state: str | None) -> str:
    if state is not None and state in S._value2member_map_:
        return str(LABELS.get(S(state), state))
    return str(state or "")
