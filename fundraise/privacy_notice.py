"""The privacy notice (PIPL arts. 17 and 30): its version, and what it says about what is collected, why, who
sees it, for how long and how to exercise one's rights, in the reader's language. A consent records the
version the person was shown; a change to what the notice says gets a new version."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from fundraise.retention_policy import RULES, YEAR, RetentionRule

NOTICE_VERSION = "2026-12-01"

# What is collected, and from whom.
COLLECTED: tuple[Any, ...] = (
    _l("The patient's name, national ID number, birth date, sex and household registration."),
    _l("The diagnosis, the hospital, the treatment plan, the cost estimate and medical bills (sensitive)."),
    _l(
        "The household's finances: income, size, house, car, savings, insurance payouts and money raised"
        " elsewhere (sensitive)."
    ),
    _l("The story and photos the family writes and uploads for the campaign page."),
    _l("Donors' name (unless they give anonymously), e-mail address and the gifts they make."),
    _l(
        "Payment data: the payment provider processes card and wallet details; we keep only the provider's"
        " payment reference and the amount."
    ),
    _l("Sign-in records and a log of who viewed a campaign's private details."),
)

# Why each is processed.
PURPOSES: tuple[Any, ...] = (
    _l(
        "Verifying the case: checking the diagnosis, costs and household against medical-insurance and"
        " civil-affairs records to work out the gap that insurance leaves."
    ),
    _l("Preventing the same patient from raising twice, using a keyed fingerprint of the ID number."),
    _l("Showing the campaign page to donors, if you agree to it separately."),
    _l("Taking donations, paying the hospital against its bills and refunding donors."),
    _l("Matching the case to charities' relief projects the patient may qualify for."),
    _l("Keeping the accounts and the audit log the law and the charity's supervisors require."),
)

# Who sees what, by role.
RECIPIENTS: tuple[tuple[Any, Any], ...] = (
    (_l("The family"), _l("Everything about their own campaign.")),
    (
        _l("The hospital's social worker"),
        _l("The campaigns of their hospital's patients, to confirm the stay and the costs."),
    ),
    (
        _l("The charity's staff"),
        _l(
            "Everything needed to verify the case and approve payments; every view of the ID number is logged."
        ),
    ),
    (
        _l("The civil-affairs officer of the patient's region"),
        _l("The cases of patients registered in their region, to check assistance and the register."),
    ),
    (
        _l("Donors and the public"),
        _l(
            "Only the public page: the masked name, the story and photos, the diagnosis category and the"
            " verified cost breakdown. Never the ID number, the bills or the household's finances."
        ),
    ),
    (
        _l("The payment provider"),
        _l("The gift's amount and the details the donor enters on its payment page."),
    ),
)

RETENTION_LABELS: dict[str, Any] = {
    "draft_unsubmitted": _l("Drafts never submitted"),
    "rejected_case": _l("Cases not approved"),
    "evidence_documents": _l("Evidence documents and photos"),
    "records_feeds": _l("Insurance and civil-affairs records feeds"),
    "access_logs": _l("Sign-in records"),
    "audit_log": _l(
        "The audit log, including who viewed a case's private details (people by number only; what it says"
        " about a person becomes unreadable when their data is deleted)"
    ),
    "accounting_records": _l("Accounting records of donations and disbursements"),
}

# How long, counted from when: %(period)s is a duration ("3 years").
STARTS_LABELS: dict[str, Any] = {
    "created": _l("%(period)s after they are made"),
    "last_change": _l("%(period)s after the last change"),
    "decided": _l("%(period)s after the decision"),
    "case_closed": _l("%(period)s after the case closes"),
    "year_end": _l("%(period)s after the end of their accounting year"),
}

LEGAL_BASIS_LABELS: dict[str, Any] = {
    "pipl_minimum": _l("No longer than the purpose needs (PIPL art. 19)"),
    "civil_limitation": _l("The three-year limitation period of civil claims (Civil Code art. 188)"),
    "cybersecurity_law": _l("Network logs are kept at least six months (Cybersecurity Law art. 21)"),
    "accounting_archives": _l(
        "Accounting vouchers and books are kept 30 years (Accounting Archives Management Measures, 2015)"
    ),
}


def retention_rows() -> list[dict[str, Any]]:
    """The retention table as the notice shows it, in the reader's language."""
    return [
        {
            "kind": rule.kind,
            "label": RETENTION_LABELS[rule.kind],
            "period": period_text(rule),
            "basis": LEGAL_BASIS_LABELS[rule.basis],
        }
        for rule in RULES
    ]


def period_text(rule: RetentionRule) -> str:
    if rule.days is None:
        return str(
            _l(
                "While the case is open, then %(period)s after it closes",
                period=_duration(rule.after_close_days or 0),
            )
        )
    return str(STARTS_LABELS[rule.starts]) % {"period": _duration(rule.days)}


def _duration(days: int) -> str:
    if days % YEAR == 0:
        return str(ngettext("%(num)d year", "%(num)d years", days // YEAR))
    if 180 <= days <= 186:
        return str(_l("6 months"))
    return str(ngettext("%(num)d day", "%(num)d days", days))
