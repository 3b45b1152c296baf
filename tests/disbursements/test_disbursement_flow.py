"""The payout path in the service layer: request, notice, approvals by other people, reservation, payment by a
finance member, gift allocation first in first out, and the ledger check over all of it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from flask_babel import force_locale

from fundraise import ledger
from fundraise.errors import Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import (
    AccountKind,
    CampaignReport,
    Disbursement,
    Donation,
    MatchRun,
    Notification,
    Offer,
    OfferStatus,
)
from fundraise.models.columns import utcnow
from fundraise.notifications import render_notification
from fundraise.services import disbursement_funds, disbursements, gift_allocations, offers, relief_projects
from fundraise.services.disbursement_invariants import check_disbursements
from fundraise.services.disbursements import RequestForm
from tests.disbursements.world import pdf_bill, world
from tests.factories import UserFactory


def _end_notice(disbursement_id: int) -> None:
    d = disbursements.get(disbursement_id)
    d.notice_ends_at = d.notice_ends_at - timedelta(days=2)
    db.session.commit()


def test_the_whole_path_pays_once_and_allocates_gifts_first_in_first_out(app: Flask) -> None:
    w = world(app, gifts=(100_000, 100_000))
    d = w.request(150_000)
    assert disbursements.phase(d, held=False) == "notice"
    with pytest.raises(IllegalTransition, match="notice"):
        disbursements.approve(d.id, w.approver)
    _end_notice(d.id)
    assert disbursements.phase(disbursements.get(d.id), held=False) == "awaiting_approval"
    with pytest.raises(Forbidden):
        disbursements.approve(d.id, w.family)
    approved = disbursements.approve(d.id, w.approver, "票据核对无误")
    assert approved.status == "approved"
    assert ledger.balance(ledger.account(AccountKind.PAYOUT_RESERVED, d.id)) == 150_000
    with pytest.raises(Forbidden, match="finance"):
        disbursements.record_payment(d.id, w.second, "HX20261203001")
    paid = disbursements.record_payment(d.id, w.finance, "HX20261203001")
    assert paid.status == "paid"
    # The same reference again is the same payment; another is refused.
    assert disbursements.record_payment(d.id, w.finance, "HX20261203001").status == "paid"
    with pytest.raises(IllegalTransition, match="already paid"):
        disbursements.record_payment(d.id, w.finance, "HX20261203999")
    gifts = list(db.session.scalars(db.select(Donation).order_by(Donation.id)))
    parts = gift_allocations.breakdowns(gifts)
    first, second = (parts[g.id] for g in gifts)
    assert [amount for _d, amount in first.payouts] == [100_000 - first.fee_fen]
    assert sum(amount for _d, amount in second.payouts) == 150_000 - (100_000 - first.fee_fen)
    for gift, part in zip(gifts, (first, second), strict=True):
        used = sum(a for _d, a in part.payouts) + part.fee_fen + part.held_fen
        assert used == gift.amount_fen
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []


def test_large_amounts_need_two_different_approvers_and_no_approver_pays(app: Flask) -> None:
    w = world(app, gifts=(3_000_000, 3_000_000))
    d = w.request(5_000_000, by=w.approver)
    assert d.required_approvals == 2
    _end_notice(d.id)
    with pytest.raises(Forbidden, match="requested"):
        disbursements.approve(d.id, w.approver)
    disbursements.approve(d.id, w.second)
    with pytest.raises(Forbidden, match="already"):
        disbursements.approve(d.id, w.second)
    assert disbursements.phase(disbursements.get(d.id), held=False) == "awaiting_second_approval"
    disbursements.approve(d.id, w.finance)
    with pytest.raises(Forbidden, match="approved this"):
        disbursements.record_payment(d.id, w.finance, "HX20261203002")
    assert check_disbursements()[1] == []


def test_bad_requests_write_nothing(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    with pytest.raises(ValidationFailed) as error:
        w.request(200_000, bill_total_fen=300_000)
    assert "amount" in error.value.fields
    with pytest.raises(ValidationFailed) as error:
        w.request(50_000, bill_total_fen=40_000)
    assert "more than the bill" in error.value.fields["amount"][0]
    assert disbursement_funds.for_campaign(w.campaign.id) == []


def test_rejection_is_final_and_cancel_returns_the_reservation(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    d = w.request(50_000)
    _end_notice(d.id)
    disbursements.reject(d.id, w.approver, "票据与诊断不符")
    with pytest.raises(IllegalTransition):
        disbursements.approve(d.id, w.second)
    e = w.request(50_000)
    _end_notice(e.id)
    disbursements.approve(e.id, w.approver)
    fund = ledger.campaign_fund(w.campaign.id)
    before = ledger.balance(fund)
    disbursements.cancel(e.id, w.second, "医院已退回该笔结算")
    assert ledger.balance(fund) == before + 50_000
    assert check_disbursements()[1] == []


def test_the_ledger_check_names_a_reservation_that_does_not_match(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    d = w.request(50_000)
    _end_notice(d.id)
    disbursements.approve(d.id, w.approver)
    # Money taken out of the reservation behind the service's back (a correction posted by hand).
    reserved = ledger.account(AccountKind.PAYOUT_RESERVED, d.id)
    ledger.post_transfer(
        "test:leak",
        "adjustment",
        [(reserved, -10_000), (ledger.campaign_fund(w.campaign.id), 10_000)],
        "leak",
    )
    db.session.commit()
    violations = check_disbursements()[1]
    assert violations == [f"disbursement {d.id} (approved) has 40000 fen reserved, expected 50000"]


def test_a_frozen_campaign_pays_nothing(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    d = w.request(50_000)
    _end_notice(d.id)
    disbursements.approve(d.id, w.approver)
    db.session.add(
        CampaignReport(
            campaign_id=w.campaign.id, reason="misuse", details="虚假病情，已另行筹款", status="credible"
        )
    )
    db.session.commit()
    with pytest.raises(IllegalTransition, match="frozen"):
        disbursements.record_payment(d.id, w.finance, "HX20261203003")
    with pytest.raises(IllegalTransition, match="frozen"):
        w.request(10_000)


def test_a_relief_commitment_is_paid_by_the_projects_charity_and_only_up_to_the_offer(app: Flask) -> None:
    w = world(app, gifts=(10_000,))
    project_staff = UserFactory(charity_staff=True)
    db.session.commit()
    project = relief_projects.create_project(
        project_staff,
        {
            "name": "儿童白血病救助",
            "rules": {"max_age": 60},
            "per_case_cap_fen": 300_000,
            "deposit_fen": 1_000_000,
            "deposit_reference": "BANK-RELIEF-1",
        },
    )
    run = MatchRun(status="succeeded")
    db.session.add(run)
    db.session.flush()
    offer = Offer(
        run_id=run.id,
        project_id=project.id,
        campaign_id=w.campaign.id,
        amount_fen=300_000,
        status=OfferStatus.PENDING,
        bound_code="per_case_cap",
        priority=500,
        expires_at=utcnow() + timedelta(days=14),
    )
    db.session.add(offer)
    db.session.commit()
    offers.decide([offer.id], UserFactory(charity_staff=True, charity=project_staff.charity), "approve")

    def ask(amount: int) -> Disbursement:
        form = RequestForm(
            source="relief_commitment",
            offer_id=offer.id,
            amount_fen=amount,
            bill_total_fen=amount,
            purpose="化疗药费",
            request_key=uuid.uuid4().hex,
        )
        return disbursements.request(w.campaign, w.family, form, [pdf_bill()])

    with pytest.raises(ValidationFailed) as error:
        ask(300_001)
    assert "amount" in error.value.fields
    d = ask(200_000)
    _end_notice(d.id)
    with pytest.raises(Forbidden, match="responsible"):
        disbursements.approve(d.id, w.approver)
    disbursements.approve(d.id, project_staff)
    finance = UserFactory(charity_staff=True, charity=project_staff.charity, finance=True)
    db.session.commit()
    assert disbursements.record_payment(d.id, finance, "RELIEF-PAY-0001").status == "paid"
    assert disbursement_funds.available_from_offer(db.session.get_one(Offer, offer.id)) == 100_000
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []


def test_the_family_is_told_when_a_payment_is_approved_and_paid_in_their_language(app: Flask) -> None:
    w = world(app, gifts=(100_000,))
    d = w.request(50_000)
    _end_notice(d.id)
    disbursements.approve(d.id, w.approver)
    disbursements.record_payment(d.id, w.finance, "HX20261203004")
    relay()
    notes = list(
        db.session.scalars(
            db.select(Notification)
            .where(Notification.user_id == w.family.id, Notification.kind == "disbursement")
            .order_by(Notification.id)
        )
    )
    assert [n.params["event"] for n in notes] == ["approved", "paid"]
    with force_locale("zh_CN"):
        subject, body = render_notification(notes[1])
    assert "已付给医院" in subject
    assert "HX20261203004" in body
