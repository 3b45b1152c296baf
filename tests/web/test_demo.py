"""The demo seeds every role and campaigns in varied states through the real services."""

from __future__ import annotations

from sqlalchemy import func, select, tuple_

from fundraise import ledger
from fundraise.audit_verification import verify_log
from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    Campaign,
    CampaignReport,
    CampaignUpdate,
    Disbursement,
    Donation,
    Finding,
    RegisterSample,
    Role,
    User,
    VerificationReport,
)
from fundraise.models.columns import utcnow
from fundraise.services import disbursements
from fundraise.services.accounts import authenticate
from fundraise.services.demo import DEMO_PASSWORD, seed_demo
from fundraise.services.disbursement_invariants import check_disbursements
from fundraise.services.register import RegisterFilters, stream_rows
from verification.anomalies import CODES


def test_demo_seeds_every_role_and_is_idempotent(app):
    lines = seed_demo()
    assert any("http://127.0.0.1:5000" in line for line in lines)
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {role.value for role in Role}
    for line in lines:
        if "@demo.aidbridge.cn" in line:
            email = line.split()[1]
            assert authenticate(email, DEMO_PASSWORD) is not None, email
    states = dict(db.session.execute(select(Campaign.state, func.count()).group_by(Campaign.state)).all())
    assert {
        "draft",
        "needs_review",
        "verified",
        "fundraising",
        "closed",
        "suspended",
        "rejected",
        "cancelled",
    } <= set(states)
    assert sum(states.values()) == 20
    # Seeding again adds nothing and says where the demo is served (make demo passes its HOST and PORT).
    again = seed_demo(url="http://127.0.0.1:5055")
    assert any("http://127.0.0.1:5055" in line for line in again)
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 20
    # Every submitted case was decided by the real checks against the imported demo records: some were
    # verified without a reviewer, the rest went to review (one family told to claim assistance first).
    decided = db.session.scalars(select(Campaign).where(Campaign.state.not_in(("draft", "cancelled")))).all()
    first: dict[int, VerificationReport] = {}
    for report in db.session.scalars(select(VerificationReport).order_by(VerificationReport.id)):
        first.setdefault(report.campaign_id, report)
    assert {c.id for c in decided} <= set(first)
    decisions = {r.decision for r in first.values()}
    assert decisions == {"verified", "needs_review"}
    assert any(
        check["reason_code"] == "assistance_first"
        for r in first.values()
        if r.report
        for check in r.report["checks"]
    )
    # Every payout phase is there to see at once, and the money checks hold after seeding.
    every = db.session.scalars(select(Disbursement)).all()
    phases = {disbursements.phase(d, held=bool(disbursements.held_ids([d.id]))) for d in every}
    assert {"paid", "notice", "awaiting_second_approval"} <= phases
    campaigns = db.session.scalars(select(Campaign)).all()
    assert any(disbursements.frozen_reason(c) for c in campaigns if c.state == "fundraising")
    assert any(c.ended_code == "closed_out" for c in campaigns)
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []
    log = verify_log()
    assert log.intact, log.problems
    assert log.events > 100
    assert log.unsealed == 0
    seed_demo()
    assert db.session.scalar(select(func.count(Campaign.id))) == 20


def test_demo_plants_every_register_anomaly_in_the_officers_region(app):
    seed_demo()
    found = {flag.code for row in stream_rows("3412", RegisterFilters()) for flag in row.flags}
    assert found == set(CODES)
    # The officer's first spot check: a sample with its seed, and an open finding.
    assert db.session.scalar(select(RegisterSample.seed)) == 20261203
    assert db.session.scalar(select(Finding.status)) == "open"


def test_every_demo_campaign_tells_its_story_in_order(app):
    """Nothing a campaign's pages show is dated before the campaign was filed or after the demo was seeded:
    its audit events, updates, reports, gifts, disbursements and their approvals; and a disbursement is
    approved only after its public notice ended."""
    seed_demo()
    now = utcnow()
    problems = []
    for campaign in db.session.scalars(select(Campaign).order_by(Campaign.id)):
        gifts = db.session.scalars(select(Donation).where(Donation.campaign_id == campaign.id)).all()
        payouts = db.session.scalars(
            select(Disbursement).where(Disbursement.campaign_id == campaign.id)
        ).all()
        reports = db.session.scalars(
            select(CampaignReport).where(CampaignReport.campaign_id == campaign.id)
        ).all()
        objects = (
            [("campaign", campaign.id)]
            + [("donation", gift.id) for gift in gifts]
            + [("disbursement", payout.id) for payout in payouts]
            + [("report", report.id) for report in reports]
        )
        moments = [
            (f"audit {event.action}", event.created_at)
            for event in db.session.scalars(
                select(AuditEvent).where(
                    tuple_(AuditEvent.object_type, AuditEvent.object_id).in_(
                        [(kind, str(key)) for kind, key in objects]
                    )
                )
            )
        ]
        moments += [
            ("update", update.created_at)
            for update in db.session.scalars(
                select(CampaignUpdate).where(CampaignUpdate.campaign_id == campaign.id)
            )
        ]
        moments += [("report", report.created_at) for report in reports]
        moments += [("gift", gift.created_at) for gift in gifts]
        moments += [("gift confirmed", gift.confirmed_at) for gift in gifts if gift.confirmed_at]
        for payout in payouts:
            moments += [
                (f"disbursement {name}", getattr(payout, name))
                for name in ("created_at", "approved_at", "decided_at", "paid_at")
                if getattr(payout, name)
            ]
            moments += [("approval", approval.created_at) for approval in payout.approvals]
            problems += [
                f"#{campaign.id}: disbursement {payout.id} approved during its notice"
                for approval in payout.approvals
                if approval.created_at < payout.notice_ends_at
            ]
        assert len(moments) > 1, campaign.id
        problems += [
            f"#{campaign.id}: {what} at {when} before it was filed at {campaign.created_at}"
            for what, when in moments
            if when < campaign.created_at
        ]
        problems += [
            f"#{campaign.id}: {what} at {when}, in the future" for what, when in moments if when > now
        ]
    assert problems == []
