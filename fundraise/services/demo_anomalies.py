"""Planted anomalies for the demo: one of each kind of register flag among the demo officer's recipients
(阜阳市, 341200), so the officer finds them as soon as the register opens.

Built with the real services where one allows the state (records import, re-verification, gifts through the
sandbox provider, staff refunds). Where no service lets the bad state happen — which is the point of a flag
that catches it — the row is changed directly, and a comment says so.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignState,
    Disbursement,
    DisbursementStatus,
    Donation,
    Hospital,
    Role,
    User,
    VerificationTrigger,
)
from fundraise.payments import get_provider
from fundraise.services import findings, sampling
from fundraise.services.donations import refund_donation, start_donation
from fundraise.services.findings import FindingInput
from fundraise.services.records_import import import_feed
from fundraise.services.verification import verify_campaign
from fundraise.unit_of_work import unit_of_work

REGION = "3412"
# 王浩宇's civil-affairs record (config/demo/records/civil_affairs.csv, DEMO-MZ-001) as updated later: the
# household is smaller and its income higher than the family disclosed.
CHANGED_RECORD = (
    "source_record_id,id_number,name,assistance_class,valid_from,valid_to,household_size,"
    "monthly_household_income_yuan,region_code,ytd_assistance_paid_yuan,ytd_as_of\r\n"
    "DEMO-MZ-001,341221201903140614,王浩宇,dibao,2025-07-01,,2,9000,341221,0,\r\n"
)
GIFT_FEN = 100_00


def _in_region(state: CampaignState) -> list[Campaign]:
    return list(
        db.session.scalars(
            select(Campaign)
            .where(Campaign.state == state, Campaign.patient_region_code.startswith(REGION))
            .order_by(Campaign.id)
        )
    )


def _gift(campaign: Campaign, donor: User | None, email: str) -> int:
    """One paid gift through the sandbox provider; its donation id."""
    with current_app.test_request_context(base_url="http://127.0.0.1:5000"):
        donation, _url = start_donation(
            campaign, donor, GIFT_FEN, return_url="http://127.0.0.1:5000/", receipt_email=email
        )
        get_provider().pay(donation.provider_payment_id)  # type: ignore[attr-defined]  # the demo runs on SandboxProvider
    return donation.id


def plant_anomalies(staff: dict[str, User]) -> None:
    """One of each register flag in the demo officer's region; `staff` are the demo's accounts by login."""
    fundraising = _in_region(CampaignState.FUNDRAISING)[0]
    verified = _in_region(CampaignState.VERIFIED)
    suspended = _in_region(CampaignState.SUSPENDED)[0]

    # Records that changed after verification, and disclosed finances out of line with them: the patient's
    # civil-affairs record is updated through the officers' import, and the checks run again (as the
    # re-verification job would): the outcome changes and no reviewer has acknowledged it yet.
    result = import_feed("civil_affairs", CHANGED_RECORD.encode(), "csv", None, source_name="demo-update.csv")
    if not result.accepted:
        raise RuntimeError([error.message for error in result.errors[:3]])
    verify_campaign(fundraising.id, trigger=VerificationTrigger.RECORDS_IMPORT)

    # Many gifts from one payer: the demo donor gives the same campaign five times.
    donor = db.session.scalar(select(User).where(User.role == Role.DONOR).order_by(User.id))
    for _ in range(5):
        _gift(fundraising, donor, "")
    # Gifts refunded in bulk: three gifts, all refunded by charity staff the same day.
    refunded = [_gift(fundraising, None, f"demo-refund-{n}@example.cn") for n in range(3)]
    for donation_id in refunded:
        donation = db.session.get(Donation, donation_id)
        assert donation is not None
        refund_donation(donation, donation.amount_fen, staff["staff"], "演示：捐款人要求退回")

    with unit_of_work():
        # Aid above the total cost: the hospital revised the cost estimate down after verification. Raw
        # update: no service changes a verified case's cost (a new filing would be verified again).
        lowered = verified[-1]
        lowered.cost_in_policy_fen = min(lowered.cost_in_policy_fen, 3_000_000)
        lowered.next_year_cost_fen = min(lowered.next_year_cost_fen, 4_000_000)
        lowered.cost_total_fen = 4_000_000
        # The same patient on two campaigns: the suspended case was filed for the patient of a verified one
        # before the duplicate check ran. Raw update: verification now refuses such a second campaign.
        first = verified[0]
        suspended.patient_name = first.patient_name
        suspended.patient_id_ciphertext = first.patient_id_ciphertext
        suspended.patient_id_index = first.patient_id_index
        suspended.patient_id_masked = first.patient_id_masked
        suspended.patient_birth_date = first.patient_birth_date
        suspended.patient_sex = first.patient_sex
        # A disbursement to a hospital other than the treating one. Raw update: the payout service only ever
        # pays the campaign's own hospital. A requested one, so no money has moved.
        payout = db.session.scalar(
            select(Disbursement)
            .where(
                Disbursement.campaign_id == fundraising.id,
                Disbursement.status == DisbursementStatus.REQUESTED,
            )
            .order_by(Disbursement.id)
        )
        other = db.session.scalar(
            select(Hospital).where(Hospital.id != fundraising.hospital_id).order_by(Hospital.id)
        )
        if payout is not None and other is not None:
            payout.hospital_id = other.id


def spot_check(staff: dict[str, User]) -> None:
    """The officer's first spot check: a sample drawn with a recorded seed, and an open finding about the
    recipient whose aid is above its cost, so the samples and findings pages have something to show."""
    officer = staff["officer"]
    sample = sampling.draw_sample(officer, size=3, seed=20261203)
    lowered = db.session.scalar(
        select(Campaign.id).where(Campaign.cost_total_fen == 4_000_000).order_by(Campaign.id)
    )
    if lowered is not None:
        findings.record_finding(
            lowered,
            officer,
            FindingInput(
                title="救助总额超过总费用，需核对医院结算单",
                note="医保、大病保险与医疗救助合计已超过登记的总费用。已请医院社工提供出院结算单，核对实际费用。",
                sample_id=sample.id if lowered in sample.campaign_ids else None,
            ),
        )
