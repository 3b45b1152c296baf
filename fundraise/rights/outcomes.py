"""What a deletion's outcome codes say, in the reader's language (the request stores codes with parameters)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fundraise.privacy_notice import LEGAL_BASIS_LABELS

STATE_LABELS: dict[str, Any] = {
    "received": _l("Received: waiting for your campaign to end"),
    "done": _l("Done"),
    "partly_done": _l("Partly done: the rest is kept until its retention ends"),
}

WAITING_LABELS: dict[str, Any] = {
    "campaign_open": _l(
        "Your campaign is still open or holds money for the patient's treatment. We carry out the deletion the "
        "day after it has been closed out or cancelled."
    ),
}


def item_text(item: dict[str, Any]) -> str:
    """One line of an outcome: what kind of data (with its count)."""
    return str(_item_text(item))


def _item_text(item: dict[str, Any]) -> Any:
    kind = item.get("kind")
    count = int(item.get("count") or 0)
    campaign = item.get("campaign_id")
    if kind == "account_profile":
        return _("Your name, e-mail address and phone number")
    if kind == "sign_in":
        return _("Your password, your sign-ins and your API tokens")
    if kind == "drafts":
        return ngettext(
            "%(num)d campaign draft never submitted, with its files",
            "%(num)d campaign drafts never submitted, with their files",
            count,
        )
    if kind == "gift_names":
        return ngettext(
            "The name and message on %(num)d gift of yours",
            "The names and messages on %(num)d gifts of yours",
            count,
        )
    if kind == "notifications":
        return _("Your notifications")
    if kind == "audit_details":
        return _(
            "Personal details about you in the audit log: they become unreadable (the entries and their seals stay)"
        )
    if kind == "donations":
        return ngettext(
            "The accounting record of %(num)d gift (amount, date, receipt number), no longer linked to you",
            "The accounting records of %(num)d gifts (amounts, dates, receipt numbers), no longer linked to you",
            count,
        )
    if kind == "case_records":
        return _("Campaign no. %(id)s: its records, evidence and verification reports", id=campaign)
    if kind == "case_accounting":
        return _("Campaign no. %(id)s: the donations it received and the payments made from it", id=campaign)
    return _("Other data")


def until_text(item: dict[str, Any]) -> str:
    """“Kept until <date>: <legal basis>”, or empty for what is erased."""
    until = item.get("until")
    basis = LEGAL_BASIS_LABELS.get(str(item.get("basis")), "")
    if item.get("while_open"):
        return str(
            _("Kept while the campaign is open, then for its retention period. %(basis)s", basis=basis)
        )
    if not until:
        return ""
    when = format_date(date.fromisoformat(until), "long")
    return str(_("Kept until %(date)s. %(basis)s", date=when, basis=basis))


def lines(outcome: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"outcome": str(item.get("outcome")), "what": item_text(item), "until": until_text(item)}
        for item in outcome
    ]
