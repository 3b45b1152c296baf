"""Close-out: the family files the final bill, the custodian charity's staff settle what is left of each gift
as its donor chose (back to the donor, or to the relief pool), and every ledger check still holds."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from fundraise import ledger
from fundraise.errors import Forbidden, IllegalTransition
from fundraise.extensions import db
from fundraise.models import (
    AccountKind,
    AuditEvent,
    Campaign,
    Donation,
    DonationRefund,
    RefundStatus,
    Role,
    SurplusChoice,
)
from fundraise.payments import get_provider
from fundraise.services import close_out, disbursements, gift_allocations
from fundraise.services import donations as donation_service
from fundraise.services.disbursement_invariants import check_disbursements
from tests.disbursements.world import World, pdf_bill, world
from tests.factories import CharityFactory, UserFactory
from tests.web.donations import signed_in, text


def give(campaign: Campaign, amount_fen: int, choice: SurplusChoice) -> Donation:
    donation, _url = donation_service.start_donation(
        campaign, None, amount_fen, surplus_choice=choice, receipt_email="d@example.cn"
    )
    get_provider().pay(donation.provider_payment_id)  # type: ignore[attr-defined]  # the sandbox has pay()
    db.session.commit()
    return donation


def pay(w: World, amount_fen: int) -> None:
    d = w.request(amount_fen)
    d.notice_ends_at = d.notice_ends_at - timedelta(days=2)
    db.session.commit()
    disbursements.approve(d.id, w.approver)
    disbursements.record_payment(d.id, w.finance, f"HX{d.id:010d}")


def fund_balance(campaign_id: int) -> int:
    return ledger.balance(ledger.campaign_fund(campaign_id))


def checks_hold() -> None:
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []
    assert donation_service.check_donations()[1] == []


def test_family_closes_out_and_custodian_staff_settle_as_each_donor_chose(app: Flask) -> None:
    w = world(app, gifts=(100_000,))  # chose a refund (the default)
    pooled = give(w.campaign, 80_000, SurplusChoice.RELIEF_POOL)
    refunded = give(w.campaign, 60_000, SurplusChoice.REFUND)
    pay(w, 120_000)  # takes the first gift whole and part of the second, first in first out
    held = dict((d.id, left) for d, left in gift_allocations.unspent(w.campaign.id))
    assert set(held) == {pooled.id, refunded.id}
    campaign_id = w.campaign.id

    family = signed_in(app, w.family)
    page = family.get(f"/family/campaigns/{campaign_id}/close-out")
    assert page.status_code == 200
    assert "relief pool" in text(page)
    assert family.get("/family/").status_code == 200
    sent = family.post(
        f"/family/campaigns/{campaign_id}/close-out",
        data={
            "bill": (io.BytesIO(pdf_bill("final").data), "出院结算单.pdf"),
            "note": "已出院，最后一次住院已结清。",
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302, text(sent)[:2000]
    campaign = db.session.get_one(Campaign, campaign_id, populate_existing=True)
    assert (campaign.state, campaign.ended_code) == ("closed", "close_out_requested")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.close_out_requested"))
    assert event is not None
    assert event.after["bill_document_id"]
    # The family sees where it stands but has no button; the custodian's staff see the preview and the button.
    assert "Settle what is left" not in text(family.get(f"/family/campaigns/{campaign_id}/close-out"))
    staff = signed_in(app, w.approver)
    preview = staff.get(f"/family/campaigns/{campaign_id}/close-out")
    assert "Settle what is left" in text(preview)

    settled = staff.post(f"/family/campaigns/{campaign_id}/close-out/settle")
    assert settled.status_code == 302, text(settled)[:2000]
    campaign = db.session.get_one(Campaign, campaign_id, populate_existing=True)
    assert campaign.ended_code == "closed_out"
    assert fund_balance(campaign_id) == 0
    assert ledger.balance(ledger.account(AccountKind.RELIEF_POOL)) == held[pooled.id]
    refund = db.session.scalar(select(DonationRefund).where(DonationRefund.donation_id == refunded.id))
    assert refund is not None
    assert refund.amount_fen == held[refunded.id]
    assert refund.status == RefundStatus.SUCCEEDED  # the sandbox's event arrived inline
    assert db.session.scalar(select(DonationRefund).where(DonationRefund.donation_id == pooled.id)) is None
    parts = gift_allocations.breakdowns([db.session.get_one(Donation, pooled.id, populate_existing=True)])
    assert parts[pooled.id].relief_pool_fen == held[pooled.id]
    assert parts[pooled.id].held_fen == 0
    checks_hold()
    # Nothing is left: pressing again moves nothing.
    again = close_out.settle_surplus(campaign, w.approver)
    assert again.refunds_asked == []
    assert again.moved_to_pool == []
    checks_hold()


def test_settling_waits_for_unpaid_disbursements(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    waiting = w.request(40_000)
    close_out.request_close_out(w.campaign, w.family, pdf_bill("final"), "")
    with pytest.raises(IllegalTransition, match=f"#{waiting.id}"):
        close_out.settle_surplus(w.campaign, w.approver)
    staff = signed_in(app, w.approver)
    refused = staff.post(f"/family/campaigns/{w.campaign.id}/close-out/settle", follow_redirects=True)
    assert refused.status_code == 200
    assert f"#{waiting.id}" in text(refused)
    assert fund_balance(w.campaign.id) > 0
    disbursements.cancel(waiting.id, w.family, "不再需要这笔付款")
    result = close_out.settle_surplus(w.campaign, w.approver)
    assert len(result.refunds_asked) == 1
    assert result.failures == []
    assert fund_balance(w.campaign.id) == 0
    checks_hold()


def test_only_custodian_staff_settle_and_only_once_asked(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    with pytest.raises(IllegalTransition, match="not asked"):
        close_out.settle_surplus(w.campaign, w.approver)
    close_out.request_close_out(w.campaign, w.family, pdf_bill("final"), "")
    with pytest.raises(IllegalTransition, match="already"):
        close_out.request_close_out(w.campaign, w.family, pdf_bill("again"), "")
    other = UserFactory(role=Role.CHARITY_STAFF, charity=CharityFactory())
    admin = UserFactory(role=Role.ADMIN)
    db.session.commit()
    for outsider in (other, admin, w.family):
        with pytest.raises(Forbidden):
            close_out.settle_surplus(w.campaign, outsider)
    page = signed_in(app, other).get(f"/family/campaigns/{w.campaign.id}/close-out")
    assert page.status_code == 200
    assert "Settle what is left" not in text(page)
    url = f"/family/campaigns/{w.campaign.id}/close-out/settle"
    refused = signed_in(app, other).post(url, follow_redirects=True)
    assert "Only staff of the charity that holds" in text(refused)
    stranger = signed_in(app, UserFactory())
    assert stranger.get(f"/family/campaigns/{w.campaign.id}/close-out").status_code == 404
    assert fund_balance(w.campaign.id) > 0
    checks_hold()
