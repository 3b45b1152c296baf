"""The officers' register: rows and aid by source, anomaly flags with their evidence, filters, sorting,
totals, the CSV export, and the jurisdiction's boundaries."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    Campaign,
    Disbursement,
    Donation,
    DonationRefund,
    Hospital,
    User,
    VerificationReport,
)
from fundraise.models.columns import utcnow
from fundraise.services import register
from fundraise.services.anomalies import flags_for
from fundraise.services.verification import verify_campaign
from tests.factories import CampaignFactory, DocumentFactory, UserFactory, hospital
from tests.statements import counting
from tests.verification.records import civil_affairs_row, import_rows, insured, submitted_case
from tests.web.test_officer_report import linquan_case_with_a_changed_outcome
from tests.web.test_public import signed_in, text

_serial = iter(range(1, 1_000_000))
ROW_LINK = re.compile(r'<td class="recipient-cell"><a href="/staff/register/(\d+)"[^>]*>')


def listed(response: Any) -> set[int]:
    """The recipients a register page lists (by their row links)."""
    return {int(found) for found in ROW_LINK.findall(text(response))}


def recipient(region: str = "341202", state: str = "fundraising", **fields: Any) -> Campaign:
    campaign = CampaignFactory(state=state, patient_region_code=region, submitted_at=utcnow(), **fields)
    db.session.flush()
    return campaign


def report(
    campaign: Campaign, *, basic: int = 0, ci: int = 0, assistance: int = 0, **extra: Any
) -> VerificationReport:
    checks = extra.pop("checks", [])
    row = VerificationReport(
        campaign_id=campaign.id,
        trigger="submission",
        decision=extra.pop("decision", "verified"),
        total_cost_fen=campaign.cost_total_fen,
        basic_fen=basic,
        critical_illness_fen=ci,
        assistance_fen=assistance,
        gap_fen=0,
        capped_target_fen=0,
        policy_region_code="341200",
        policy_year=2026,
        report={"checks": checks},
        records_snapshot={},
        **extra,
    )
    db.session.add(row)
    db.session.flush()
    return row


def gift(campaign: Campaign, amount: int = 10_000, **fields: Any) -> Donation:
    n = next(_serial)
    donation = Donation(
        campaign_id=campaign.id,
        amount_fen=amount,
        status="succeeded",
        provider="sandbox",
        idempotency_key=f"test-gift-{n}",
        provider_payment_id=f"sbx-test-{n}",
        **fields,
    )
    db.session.add(donation)
    db.session.flush()
    return donation


def refund(donation: Donation, at: Any) -> None:
    n = next(_serial)
    db.session.add(
        DonationRefund(
            donation_id=donation.id,
            amount_fen=donation.amount_fen,
            status="succeeded",
            idempotency_key=f"test-refund-{n}",
            created_at=at,
        )
    )
    donation.refunded_fen = donation.amount_fen
    db.session.flush()


def payout(campaign: Campaign, hospital_id: int, status: str = "requested") -> Disbursement:
    n = next(_serial)
    bill = DocumentFactory(campaign=campaign, kind="bill")
    row = Disbursement(
        campaign_id=campaign.id,
        source="campaign_fund",
        hospital_id=hospital_id,
        amount_fen=50_000,
        bill_total_fen=50_000,
        purpose="住院费用",
        bill_document_id=bill.id,
        status=status,
        request_key=f"test-payout-{n}",
        requested_by_id=campaign.applicant_id,
        notice_ends_at=utcnow(),
        transfer_reference=f"REF-{n}" if status == "paid" else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def officer(code: str = "341200") -> User:
    return UserFactory(officer=True, jurisdiction_code=code)


@pytest.fixture
def two_regions(app: Flask) -> dict[str, Campaign]:
    """Recipients in 阜阳 (341200) and in 甘肃 (620000), with things that are not on the register."""
    mine = recipient("341202", patient_name="王小明")
    review = recipient("341221", "needs_review", patient_name="李四")
    theirs = recipient("620102", patient_name="马欣悦", hospital=hospital("GS-PROV"))
    recipient("341202", "draft", patient_name="草稿人")
    recipient("341202", "cancelled", patient_name="取消人")
    report(mine, basic=100_000, ci=20_000, assistance=5_000)
    gift(mine, 30_000)
    payout(mine, mine.hospital_id, "paid")
    db.session.commit()
    return {"mine": mine, "review": review, "theirs": theirs}


def test_officer_sees_every_recipient_of_the_region_with_aid_by_source(app: Flask, two_regions: Any) -> None:
    client = signed_in(app, officer())
    response = client.get("/staff/register")
    body = text(response)
    assert listed(response) == {two_regions["mine"].id, two_regions["review"].id}
    assert "王小明" not in body
    assert "王**" in body
    assert "草稿人"[:1] + "**" not in body
    assert "取" + "**" not in body
    page = register.register_rows("3412", register.RegisterFilters())
    (row,) = [r for r in page.items if r.campaign_id == two_regions["mine"].id]
    assert (row.basic_fen, row.critical_illness_fen, row.assistance_fen) == (100_000, 20_000, 5_000)
    assert (row.raised_fen, row.paid_fen, row.total_aid_fen) == (30_000, 50_000, 155_000)
    totals = register.register_totals("3412", register.RegisterFilters())
    assert totals.recipients == 2
    assert totals.raised_fen == 30_000
    assert totals.paid_fen == 50_000


def test_the_jurisdiction_cannot_be_widened(app: Flask, two_regions: Any) -> None:
    client = signed_in(app, officer())
    theirs = two_regions["theirs"]
    assert client.get(f"/staff/register/{theirs.id}").status_code == 404
    for query in (
        f"?hospital={theirs.hospital_id}",
        "?state=fundraising&sort=donations",
        "?flagged=1",
        "?class=dibao",
        "?region=620000",
        "?prefix=",
    ):
        assert theirs.id not in listed(client.get("/staff/register" + query)), query
    export = text(client.get("/staff/register/export.csv"))
    assert "马**" not in export
    ids = [line.split(",")[0] for line in export.split("\r\n")[1:] if line]
    assert str(theirs.id) not in ids
    assert set(ids) == {str(two_regions["mine"].id), str(two_regions["review"].id)}
    # The other region's officer sees theirs and nothing of 341200.
    gansu = signed_in(app, officer("620000"))
    assert gansu.get(f"/staff/register/{two_regions['mine'].id}").status_code == 404
    assert listed(gansu.get("/staff/register")) == {theirs.id}


def test_staff_read_every_region_and_others_may_not(app: Flask, two_regions: Any) -> None:
    staff = signed_in(app, UserFactory(charity_staff=True))
    assert {two_regions["theirs"].id, two_regions["mine"].id} <= listed(staff.get("/staff/register"))
    assert staff.get(f"/staff/register/{two_regions['theirs'].id}").status_code == 200
    family = signed_in(app, UserFactory())
    assert family.get("/staff/register").status_code == 403
    assert family.get("/staff/register/export.csv").status_code == 403


def _planted(app: Flask) -> dict[str, Campaign]:
    """One recipient per anomaly in 341200, and a clean one."""
    hour = timedelta(hours=1)
    clean = recipient(patient_name="清白")
    report(clean, basic=100_000)
    above = recipient(cost_total_fen=200_000, cost_in_policy_fen=100_000, target_fen=50_000)
    report(above, basic=150_000, ci=30_000)
    gift(above, 40_000)
    # A person of their own (another birth date): no other test campaign shares the ID number.
    twin_a = recipient(patient_birth_date=date(2001, 2, 3), patient_id_sequence=1)
    twin_b = recipient("341221", "closed", patient_birth_date=date(2001, 2, 3), patient_id_sequence=1)
    changed = linquan_case_with_a_changed_outcome()
    mismatch = submitted_case()
    insured(mismatch)
    import_rows(
        "civil_affairs", [civil_affairs_row(mismatch, household_size=2, monthly_household_income_yuan=9000)]
    )
    verify_campaign(mismatch.id, trigger="submission")
    elsewhere = recipient()
    payout(elsewhere, _other_hospital(elsewhere))
    busy = recipient()
    donor = UserFactory(donor=True)
    for _ in range(5):
        gift(busy, 1_000, donor_id=donor.id)
    refunded = recipient()
    start = utcnow()
    for n in range(3):
        refund(gift(refunded, 1_000, receipt_email=f"p{n}@example.org"), start + n * hour)
    db.session.commit()
    return {
        "clean": clean,
        "aid_above_cost": above,
        "duplicate_patient": twin_a,
        "twin": twin_b,
        "records_changed": changed,
        "disclosure_mismatch": mismatch,
        "other_hospital": elsewhere,
        "many_gifts_one_payer": busy,
        "bulk_refunds": refunded,
    }


def _other_hospital(campaign: Campaign) -> int:
    found = db.session.scalar(select(Hospital.id).where(Hospital.id != campaign.hospital_id).limit(1))
    assert found is not None
    return found


CODES = (
    "aid_above_cost",
    "duplicate_patient",
    "records_changed",
    "disclosure_mismatch",
    "other_hospital",
    "many_gifts_one_payer",
    "bulk_refunds",
)


def test_each_anomaly_is_flagged_with_evidence_an_officer_can_open(app: Flask) -> None:
    planted = _planted(app)
    flags = flags_for(c.id for c in planted.values())
    assert flags[planted["clean"].id] == []
    client = signed_in(app, officer())
    for code in CODES:
        found = [f for f in flags[planted[code].id] if f.code == code]
        assert found, code
        evidence = urlsplit(found[0].evidence)
        opened = client.get(evidence.path + (f"?{evidence.query}" if evidence.query else ""))
        assert opened.status_code == 200, (code, found[0].evidence)
    assert {f.code for f in flags[planted["twin"].id]} == {"duplicate_patient"}


def test_flags_render_in_words_and_filter(app: Flask) -> None:
    planted = _planted(app)
    client = signed_in(app, officer())
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = text(client.get(f"/staff/register/{planted['bulk_refunds'].id}"))
    assert "bulk_refunds" not in page
    assert "Gifts refunded in bulk" in page
    assert "3 gifts were refunded within 24 hours" in page
    for code in CODES:
        shown = listed(client.get(f"/staff/register?flag={code}"))
        assert planted[code].id in shown, code
        assert planted["clean"].id not in shown, code
    flagged = listed(client.get("/staff/register?flagged=1"))
    assert flagged == {planted[code].id for code in CODES} | {planted["twin"].id}
    # Each sort orders the rows by its figure, highest first.
    filters = register.RegisterFilters()
    by_aid = [row.total_aid_fen for row in register.register_rows("3412", filters, "total_aid").items]
    assert by_aid == sorted(by_aid, reverse=True)
    by_cost = [row.total_cost_fen for row in register.register_rows("3412", filters, "total_cost").items]
    assert by_cost == sorted(by_cost, reverse=True)
    by_gifts = [row.raised_fen for row in register.register_rows("3412", filters, "donations").items]
    assert by_gifts == sorted(by_gifts, reverse=True)
    assert by_gifts[0] > 0
    # A page past the end shows the last; 50 a page.
    assert register.register_rows("3412", filters, page=99).number == 1


def test_a_page_is_a_fixed_number_of_queries(app: Flask) -> None:
    _planted(app)

    def statements() -> int:
        db.session.expunge_all()
        with counting() as seen:
            register.register_rows("3412", register.RegisterFilters())
        return len(seen)

    few = statements()
    for _ in range(10):
        campaign = recipient()
        report(campaign, basic=1_000)
        gift(campaign, 1_000)
    db.session.commit()
    assert statements() == few


def test_the_order_and_totals_of_a_region_are_kept_for_a_while_and_the_rows_read_afresh(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["REGISTER_CACHE_SECONDS"] = 30
    first = recipient()
    gift(first, 1_000)
    db.session.commit()
    filters = register.RegisterFilters()
    assert [row.raised_fen for row in register.register_rows("3412", filters).items] == [1_000]
    assert register.register_totals("3412", filters).recipients == 1
    # Within the half minute: a newly filed recipient is not listed yet, but the listed rows' amounts are live.
    recipient()
    gift(first, 500)
    db.session.commit()
    db.session.expunge_all()
    with counting() as seen:
        page = register.register_rows("3412", filters)
    assert (page.total, [row.raised_fen for row in page.items]) == (1, [1_500])
    assert register.register_totals("3412", filters).recipients == 1
    # Once the time is up, everything is read again.
    later = register.time.monotonic() + 31
    monkeypatch.setattr(register.time, "monotonic", lambda: later)
    with counting() as again:
        assert register.register_rows("3412", filters).total == 2
    assert len(again) > len(seen)
    # No more than KEPT_ENTRIES orders are kept.
    for state in ("submitted", "verifying", "closed", *map(str, range(register.KEPT_ENTRIES))):
        register.register_rows("3412", register.RegisterFilters(state=state))
    assert len(app.extensions["aidbridge.register_order"]) <= register.KEPT_ENTRIES


def test_export_streams_every_row_escaped_with_flags_in_words_and_is_audited(app: Flask) -> None:
    planted = _planted(app)
    recipient(patient_name="=HYPERLINK(1)")
    db.session.commit()
    reader = officer()
    client = signed_in(app, reader)
    response = client.get("/staff/register/export.csv?flagged=1")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    decoded = body.decode("utf-8-sig")
    ids = {line.split(",")[0] for line in decoded.split("\r\n")[1:] if line}
    assert ids == {str(planted[code].id) for code in CODES} | {str(planted["twin"].id)}
    assert "bulk_refunds" not in decoded
    everything = client.get("/staff/register/export.csv").get_data().decode("utf-8-sig")
    assert "'=**" in everything
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "register.exported").order_by(AuditEvent.id.desc())
    )
    assert event is not None
    assert event.actor_id == reader.id
    assert event.after["prefix"] == "3412"
