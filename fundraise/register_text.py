"""The officers' register in words: anomaly flags, their evidence links, the sorts and the CSV header, in the
reader's language. Codes never reach a page or an export raw."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from fundraise.csv_export import csv_lines
from fundraise.i18n import locale_name
from fundraise.money import format_yuan
from fundraise.pii import mask_name
from fundraise.states import state_label
from fundraise.verification_text import ASSISTANCE_CLASSES, DECISION_LABELS, DISCLOSURE_FIELDS

FLAG_LABELS: dict[str, Any] = {
    "aid_above_cost": _l("Aid above total cost"),
    "duplicate_patient": _l("Same patient on several campaigns"),
    "records_changed": _l("Records changed after verification"),
    "disclosure_mismatch": _l("Disclosed finances out of line with records"),
    "other_hospital": _l("Disbursement to another hospital"),
    "many_gifts_one_payer": _l("Many gifts from one payer"),
    "bulk_refunds": _l("Gifts refunded in bulk"),
}
EVIDENCE_LABELS: dict[str, Any] = {
    "report": _l("Verification report"),
    "campaign": _l("The other campaign"),
    "own": _l("Aid by source"),
    "disbursement": _l("The disbursement"),
    "donations": _l("The donations"),
}
SORT_LABELS: dict[str, Any] = {
    "newest": _l("Newest first"),
    "total_cost": _l("Total cost, highest first"),
    "total_aid": _l("Total aid, highest first"),
    "donations": _l("Donations, highest first"),
}


def _int(params: Mapping[str, Any], key: str) -> int:
    value = params.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _decision(code: object) -> str:
    label = DECISION_LABELS.get(str(code or ""))
    return str(label) if label is not None else _("unknown")


def class_label(code: str | None) -> str:
    """A civil-affairs class in words ('—' when the patient has none on record)."""
    if not code:
        return "—"
    label = ASSISTANCE_CLASSES.get(code)
    return str(label) if label is not None else code


def flag_label(code: str) -> str:
    label = FLAG_LABELS.get(code)
    return str(label) if label is not None else _("Other anomaly")


def evidence_label(flag: Any) -> str:
    """What a flag's link opens, in words."""
    kind = flag.evidence_kind
    if kind == "campaign" and str(flag.evidence).endswith("#aid"):
        kind = "own"
    label = EVIDENCE_LABELS.get(kind)
    return str(label) if label is not None else _("Evidence")


def flag_text(code: str, params: Mapping[str, Any]) -> str:
    """One anomaly's reason in words, with its figures."""
    return str(_flag_text(code, params))


def _flag_text(code: str, params: Mapping[str, Any]) -> Any:
    if code == "aid_above_cost":
        return _(
            "Aid from every source (%(aid)s) is above the total cost (%(cost)s) by %(excess)s.",
            aid=format_yuan(_int(params, "total_aid_fen")),
            cost=format_yuan(_int(params, "total_cost_fen")),
            excess=format_yuan(_int(params, "excess_fen")),
        )
    if code == "duplicate_patient":
        return ngettext(
            "The same patient is on %(num)d other campaign (#%(other)s).",
            "The same patient is on %(num)d other campaigns (one is #%(other)s).",
            _int(params, "count"),
            other=_int(params, "other_id"),
        )
    if code == "records_changed":
        if params.get("reason") == "outcome_changed":
            return _(
                "The records changed after verification and the checks, run again, now say %(decision)s"
                " (before: %(previous)s). No reviewer has acknowledged the change yet.",
                decision=_decision(params.get("decision")),
                previous=_decision(params.get("previous_decision")),
            )
        return _(
            "The patient's insurance or civil-affairs records changed after the latest verification; the"
            " checks have not been run on them yet."
        )
    if code == "disclosure_mismatch":
        fields = ", ".join(
            str(DISCLOSURE_FIELDS[name]) if name in DISCLOSURE_FIELDS else name
            for name in str(params.get("fields") or "").split(",")
            if name
        )
        return _(
            "The disclosed finances differ from the civil-affairs record (%(fields)s): household of %(size)s"
            " disclosed, %(record_size)s on record; yearly income of %(income)s disclosed, %(record_income)s on"
            " record.",
            fields=fields or "—",
            size=_int(params, "disclosed_household_size"),
            record_size=_int(params, "record_household_size"),
            income=format_yuan(_int(params, "disclosed_income_fen")),
            record_income=format_yuan(_int(params, "record_income_fen")),
        )
    if code == "other_hospital":
        return _(
            "Disbursement #%(number)s of %(amount)s is to a hospital other than the treating one.",
            number=_int(params, "disbursement_id"),
            amount=format_yuan(_int(params, "amount_fen")),
        )
    if code == "many_gifts_one_payer":
        # Always five or more gifts: no singular to choose.
        made = _("One payer made %(count)s gifts to this campaign.", count=_int(params, "count"))
        if _int(params, "payers") > 1:
            made += " " + _("%(payers)s payers gave five times or more.", payers=_int(params, "payers"))
        return made
    if code == "bulk_refunds":
        return _(
            "%(count)s gifts were refunded within 24 hours (from %(day)s).",
            count=_int(params, "count"),
            day=str(params.get("first") or "—"),
        )
    return flag_label(code)


def flags_in_words(flags: list[Any]) -> str:
    """A row's flags as one cell of the export: each reason in words, separated by ' | '."""
    return " | ".join(f"{flag_label(flag.code)}: {flag_text(flag.code, flag.params)}" for flag in flags)


def csv_header() -> list[str]:
    return [
        _("Campaign"),
        _("Status"),
        _("Patient"),
        _("ID number (masked)"),
        _("Region"),
        _("Civil-affairs class"),
        _("Hospital"),
        _("Total cost (yuan)"),
        _("Basic medical insurance (yuan)"),
        _("Critical-illness insurance (yuan)"),
        _("Medical assistance (yuan)"),
        _("Relief commitments (yuan)"),
        _("Donations (yuan)"),
        _("Total aid (yuan)"),
        _("Disbursements paid (yuan)"),
        _("Anomalies"),
    ]


def _yuan_cell(fen: int) -> str:
    """Fen as a plain yuan number for a spreadsheet ("1234.50"), by integer arithmetic."""
    return f"{fen // 100}.{fen % 100:02d}"


def export_cells(rows: Iterable[Any]) -> Iterator[list[Any]]:
    """The export's cells of each row, every code in words."""
    locale = locale_name()
    # A hundred thousand rows share a handful of states, classes and hospitals: each put in words once.
    state_in_words = functools.cache(lambda state: str(state_label(state)))
    class_in_words = functools.cache(lambda code: str(class_label(code)))
    hospital_name = functools.cache(lambda hospital: hospital.name(locale) if hospital else "")
    for row in rows:
        yield [
            row.campaign_id,
            state_in_words(row.state),
            mask_name(row.patient_name),
            row.patient_id_masked,
            row.patient_region_code,
            class_in_words(row.assistance_class),
            hospital_name(row.hospital),
            _yuan_cell(row.total_cost_fen),
            _yuan_cell(row.basic_fen),
            _yuan_cell(row.critical_illness_fen),
            _yuan_cell(row.assistance_fen),
            _yuan_cell(row.committed_fen),
            _yuan_cell(row.raised_fen),
            _yuan_cell(row.total_aid_fen),
            _yuan_cell(row.paid_fen),
            flags_in_words(row.flags),
        ]


def export_lines(rows: Iterable[Any]) -> Iterator[str]:
    """The register's CSV, line by line: a byte-order mark (so spreadsheets read UTF-8), the header, one line
    per row with every cell escaped against formulas (fundraise.csv_export)."""
    yield "\ufeff"
    yield from csv_lines(csv_header(), export_cells(rows))


def template_globals() -> dict[str, Any]:
    return {
        "register_flag_label": flag_label,
        "register_flag_text": flag_text,
        "register_evidence_label": evidence_label,
        "register_class_label": class_label,
    }


# A finding's status, as the register's pages and exports name it.
FINDING_STATUSES = {"open": _l("Open finding"), "resolved": _l("Resolved")}


def finding_status_label(status: str) -> str:
    return str(FINDING_STATUSES.get(status, status))
