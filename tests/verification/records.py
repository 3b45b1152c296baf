"""Helpers for verification tests: complete cases and the records that belong to them, imported through the
real feed import (so re-verification after an import runs as it does in production)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fundraise import pii
from fundraise.models import Campaign, User
from fundraise.models.columns import utcnow
from fundraise.services.records_import import ImportResult, import_feed
from tests.factories import CampaignFactory, UserFactory


def submitted_case(*, confirmed: bool = True, **fields: Any) -> Campaign:
    """The factory's Linquan leukaemia case, submitted, with the stay (and the family's referral answer)
    confirmed by the hospital's social worker unless `confirmed=False`. Not yet verified: call the service or relay the outbox."""
    fields = {"state": "submitted", "submitted_at": utcnow(), **fields}
    campaign = CampaignFactory(with_evidence=True, **fields)
    if confirmed:
        worker = UserFactory(social_worker=True)
        campaign.stay_confirmed_by_id = worker.id
        campaign.stay_confirmed_at = utcnow()
        if campaign.referral_filed is not None:
            # The worker confirms the family's referral answer with the stay (filing.confirm_stay).
            campaign.referral_confirmed_by_id = worker.id
            campaign.referral_confirmed_at = campaign.stay_confirmed_at
    return campaign


def id_number(campaign: Campaign) -> str:
    assert campaign.patient_id_ciphertext is not None
    return pii.decrypt_id(campaign.patient_id_ciphertext)


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def enrolment_row(campaign: Campaign, **changes: Any) -> dict[str, Any]:
    row = {
        "source_record_id": f"YB-{campaign.id}",
        "id_number": id_number(campaign),
        "name": campaign.patient_name,
        "scheme": "resident",
        "pooling_region_code": "341200",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "year": "2026",
        "ytd_reimbursed_yuan": "0",
    }
    row.update(changes)
    return row


def critical_illness_row(campaign: Campaign, **changes: Any) -> dict[str, Any]:
    row = {
        "source_record_id": f"DB-{campaign.id}",
        "id_number": id_number(campaign),
        "name": campaign.patient_name,
        "entitled": "true",
        "pooling_region_code": "341200",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "ytd_paid_yuan": "0",
    }
    row.update(changes)
    return row


def civil_affairs_row(campaign: Campaign, assistance_class: str = "dibao", **changes: Any) -> dict[str, Any]:
    """A status whose household agrees with the factory's disclosure (4 people, 48,000 yuan a year)."""
    row = {
        "source_record_id": f"MZ-{campaign.id}",
        "id_number": id_number(campaign),
        "name": campaign.patient_name,
        "assistance_class": assistance_class,
        "valid_from": "2026-01-01",
        "valid_to": "",
        "household_size": "4",
        "monthly_household_income_yuan": "4000",
        "region_code": "341221",
    }
    row.update(changes)
    return row


def import_rows(kind: str, rows: list[dict[str, Any]], actor: User | None = None) -> ImportResult:
    result = import_feed(kind, to_csv(rows), "csv", actor)
    assert result.accepted, result.errors
    return result


def insured(campaign: Campaign, *, civil_affairs: str | None = None) -> None:
    """Import an active resident enrolment and critical-illness entitlement (and a civil-affairs status)."""
    import_rows("basic_enrolment", [enrolment_row(campaign)])
    import_rows("critical_illness", [critical_illness_row(campaign)])
    if civil_affairs:
        import_rows("civil_affairs", [civil_affairs_row(campaign, civil_affairs)])
