"""The demo seeds every role and campaigns in varied states through the real services."""

from __future__ import annotations

from sqlalchemy import func, select

from fundraise import ledger
from fundraise.audit_verification import verify_log
from fundraise.extensions import db
from fundraise.models import Campaign, Disbursement, Finding, RegisterSample, Role, User, VerificationReport
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
