"""The verification service: decisions and state moves, capping, assistance first, missing rules, history, and
re-verification after a records import (which never moves a decided case back)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from fundraise.audit_verification import verify_log
from fundraise.errors import IllegalTransition
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import AuditEvent, Campaign, OutboxMessage, VerificationReport
from fundraise.services.verification import verify_campaign, verify_campaigns
from fundraise.services.verification_reports import (
    changed_count,
    changed_reports,
    core_report,
    report_history,
)
from fundraise.verification_text import reason_text
from tests.verification.records import (
    civil_affairs_row,
    enrolment_row,
    import_rows,
    insured,
    submitted_case,
)


def actions(campaign: Campaign) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "campaign", AuditEvent.object_id == str(campaign.id))
            .order_by(AuditEvent.id)
        )
    )


def test_a_case_with_matching_records_is_verified_and_moved_by_the_system(app):
    campaign = submitted_case(referral_filed=False)
    insured(campaign)

    report = verify_campaign(campaign.id, trigger="submission")

    assert report.decision == "verified"
    assert report.problem is None
    assert campaign.state == "verified"
    assert campaign.decision_reason == f"@verification-report:{report.id}"  # a code: written out when read
    assert reason_text(campaign.decision_reason).startswith("Verified automatically")
    assert actions(campaign)[-2:] == ["campaign.begin_verification", "campaign.verify"]
    # Out of the pooling region (Hefei), not filed (as the family said and the worker confirmed): basic pays
    # 45% of 299,000 yuan; then the bands.
    assert report.basic_fen == 13_455_000
    assert report.critical_illness_fen == 10_536_000
    assert report.assistance_fen == 0
    assert report.gap_fen == 40_000_000 - 13_455_000 - 10_536_000
    assert report.policy_version == "341200-2026.2-illustrative"
    assert (report.policy_region_code, report.policy_year) == ("341200", 2026)
    assert report.records_snapshot["used"]["enrolment"] == f"YB-{campaign.id}"
    assert "records_snapshot" not in report.report  # kept once, in its own column
    core = core_report(report)
    assert core is not None
    assert core.gap_fen == report.gap_fen
    # Nothing failed or needs review; with no civil-affairs record the status and disclosure checks had nothing to check.
    assert {check.code for check in core.checks if check.status != "pass"} == {"civil_affairs", "disclosure"}
    assert core.check("disclosure").status == "not_checked"
    assert "Not checked, because there was nothing on file to check against" in reason_text(
        campaign.decision_reason
    )
    # Each state change notifies the family, as for any transition.
    jobs = db.session.scalars(select(OutboxMessage.job).where(OutboxMessage.status == "pending")).all()
    assert jobs.count("notify_state_change") == 1  # of the state it ended in
    assert verify_log().intact


def test_no_records_and_an_unconfirmed_stay_go_to_a_reviewer_with_the_reasons(app):
    campaign = submitted_case(confirmed=False)

    report = verify_campaign(campaign.id, trigger="submission")

    assert report.decision == "needs_review"
    assert campaign.state == "needs_review"
    core = core_report(report)
    assert core is not None
    review = {check.reason_code for check in core.checks if check.status == "needs_review"}
    # Nobody confirmed the family's referral answer either.
    assert review == {
        "records_not_found",
        "enrolment_not_found",
        "stay_not_confirmed",
        "referral_unconfirmed",
    }
    # flag_for_review carries no decision reason; the history has the summary.
    reasons = db.session.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "campaign.flag_for_review")
    ).all()
    assert "social worker has not confirmed" in reason_text(reasons[0]["reason"])


def test_a_failed_check_rejects(app):
    campaign = submitted_case(savings_fen=30_000_000)  # savings alone cover the gap
    insured(campaign)

    report = verify_campaign(campaign.id, trigger="submission")

    assert report.decision == "rejected"
    assert campaign.state == "rejected"
    assert "no remaining need" in reason_text(campaign.decision_reason)
    assert campaign.target_fen == 15_000_000  # a rejected case's target is left as asked


def test_the_target_is_capped_to_the_gap_with_the_reason_and_assistance_comes_first(app):
    campaign = submitted_case()
    insured(campaign, civil_affairs="dibao")

    report = verify_campaign(campaign.id, trigger="submission")

    # 低保: no assistance claimed yet, so the family is told to claim it first; a reviewer decides.
    core = core_report(report)
    assert core is not None
    assert core.check("civil_affairs").reason_code == "assistance_first"
    assert report.decision == "needs_review"
    assert campaign.state == "needs_review"
    assert report.assistance_fen > 0
    assert report.cap_reason == "gap"
    assert report.capped_target_fen == report.gap_fen < 15_000_000
    assert campaign.target_fen == report.gap_fen
    assert campaign.requested_target_fen == 15_000_000
    cap = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.cap_target"))
    assert cap is not None
    assert cap.before == {"target_fen": 15_000_000}
    assert cap.after["target_fen"] == report.gap_fen
    assert cap.after["cap_reason"] == "gap"

    # A later run still explains the cap against what the family asked for, and changes nothing.
    again = verify_campaign(campaign.id, trigger="manual")
    assert again.id == report.id
    assert core_report(again).check("target").reason_code == "target_capped_to_gap"  # type: ignore[union-attr]


def test_claimed_assistance_passes_the_civil_affairs_check(app):
    campaign = submitted_case(assistance_claimed=True)
    insured(campaign, civil_affairs="dibao")

    report = verify_campaign(campaign.id, trigger="submission")

    assert core_report(report).check("civil_affairs").reason_code == "class_valid"  # type: ignore[union-attr]
    assert report.decision == "verified"
    assert campaign.state == "verified"


def test_no_policy_for_the_region_or_year_goes_to_review_without_a_crash(app):
    campaign = submitted_case(admitted_on=date(2025, 12, 20))  # the policies on file are for 2026

    report = verify_campaign(campaign.id, trigger="submission")

    assert report.decision == "needs_review"
    assert report.problem == "no_policy"
    assert report.report is None
    assert report.gap_fen is None
    assert (report.policy_region_code, report.policy_year) == ("341221", 2025)
    assert campaign.state == "needs_review"
    assert "no benefit rules on file" in actions_reason(campaign)


def actions_reason(campaign: Campaign) -> str:
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.object_id == str(campaign.id), AuditEvent.action == "campaign.flag_for_review")
        .limit(1)
    )
    assert event is not None
    return reason_text(str(event.after["reason"]))


def test_an_unreachable_records_service_sends_the_case_to_review(app):
    app.config["RECORDS_SERVICE_URL"] = "http://127.0.0.1:9"  # discard port: nothing answers
    app.config["RECORDS_SERVICE_TOKEN"] = "t"
    app.config["RECORDS_SERVICE_TIMEOUT"] = 1
    campaign = submitted_case()

    report = verify_campaign(campaign.id, trigger="submission")

    assert report.problem == "records_unavailable"
    assert report.decision == "needs_review"
    assert report.policy_version == "341200-2026.2-illustrative"
    assert campaign.state == "needs_review"


def test_the_submission_job_verifies_once_and_is_safe_to_run_twice(app):
    from fundraise.jobs.verification import start_verification

    campaign = submitted_case()
    insured(campaign)
    start_verification(campaign.id)
    start_verification(campaign.id)
    assert campaign.state == "verified"
    assert db.session.scalar(select(func.count(VerificationReport.id))) == 1


def test_history_is_kept_and_reimport_reverifies_without_moving_state_back(app):
    campaign = submitted_case()
    insured(campaign)
    first = verify_campaign(campaign.id, trigger="submission")
    assert campaign.state == "verified"
    relay()  # the notifications

    # The civil-affairs office records a 低保 status the family did not mention: the outcome changes.
    result = import_rows("civil_affairs", [civil_affairs_row(campaign, "dibao")])
    assert result.affected_person_indexes == {campaign.patient_id_index}
    job = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "reverify_campaigns"))
    assert job is not None
    assert job.args["campaign_ids"] == [campaign.id]
    relay()

    history = report_history(campaign.id)
    assert [r.id for r in history][-1] == first.id
    assert len(history) == 2
    latest = history[0]
    assert latest.trigger == "records_import"
    assert latest.decision == "needs_review"
    assert latest.previous_decision == "verified"
    assert latest.changed_outcome
    assert campaign.state == "verified"  # not moved back
    assert db.session.get(VerificationReport, first.id).decision == "verified"  # history unchanged
    assert changed_count() == 1
    assert changed_reports()[0].id == latest.id
    assert "campaign.verification_changed" in actions(campaign)

    # The same file again changes nothing: no job, no report.
    again = import_rows("civil_affairs", [civil_affairs_row(campaign, "dibao")])
    assert again.inserted == again.updated == 0
    assert len(report_history(campaign.id)) == 2


def test_a_changed_record_of_a_fundraising_case_is_flagged_and_the_target_kept(app):
    campaign = submitted_case()
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    campaign.state = "fundraising"
    db.session.commit()

    # The enrolment turns out to have lapsed before treatment.
    import_rows("basic_enrolment", [enrolment_row(campaign, valid_to="2026-06-30")])
    relay()

    latest = report_history(campaign.id)[0]
    assert latest.changed_outcome
    assert latest.decision == "needs_review"
    assert campaign.state == "fundraising"
    assert campaign.target_fen == 15_000_000


def test_a_rerun_of_an_undecided_case_moves_it_on(app):
    campaign = submitted_case()
    insured(campaign)  # the import queued a re-verification of the submitted case
    relay()
    assert campaign.state == "verified"
    assert report_history(campaign.id)[0].trigger == "records_import"
    assert not report_history(campaign.id)[0].changed_outcome


def test_inactive_campaigns_are_refused_alone_and_skipped_in_a_batch(app):
    draft = submitted_case(state="draft", submitted_at=None)
    active = submitted_case()
    db.session.commit()
    with pytest.raises(IllegalTransition):
        verify_campaign(draft.id, trigger="manual")
    outcomes = verify_campaigns([draft.id, active.id], trigger="manual")
    assert [o.campaign_id for o in outcomes] == [active.id]
    assert outcomes[0].moved_to == "needs_review"


def test_a_batch_verifies_many_cases_in_chunks(app, monkeypatch):
    """Three chunks: on PostgreSQL two of them run at once, each in its own session and transaction."""
    from fundraise.services import verification

    monkeypatch.setattr(verification, "CHUNK_SIZE", 3)
    cases = [submitted_case() for _ in range(7)]
    for case in cases[:4]:
        insured(case)
    done: list[int] = []

    outcomes = verify_campaigns([c.id for c in cases], trigger="manual", progress=done.append)

    assert done == [3, 3, 1]
    assert sorted(o.decision for o in outcomes) == ["needs_review"] * 3 + ["verified"] * 4
    assert verify_log().intact
    # Each patient's other active campaigns were counted: every case here is a different patient, but the
    # factory's ID numbers repeat every 100 cases, never within 7.
    assert all(
        core_report(r).check("duplicate_campaign").status == "pass"
        for r in db.session.scalars(select(VerificationReport))
    )  # type: ignore[union-attr]


def test_a_batch_restores_the_garbage_collector_settings(app):
    import gc

    from fundraise.services.verification import _fewer_collections

    before = gc.get_threshold()
    with _fewer_collections():
        raised = gc.get_threshold()
        with _fewer_collections():
            assert gc.get_threshold() == raised
        assert gc.get_threshold() == raised  # the outer batch is still running
    assert raised[0] > before[0]
    assert gc.get_threshold() == before
    verify_campaigns([submitted_case().id], trigger="manual")
    assert gc.get_threshold() == before


def test_the_checks_reason_is_written_out_in_the_readers_language(app):
    """What the system says is stored as a code (the report) and read in each reader's language: the English
    interface no longer shows the Chinese the worker happened to write in, nor the reverse."""
    from flask_babel import force_locale

    campaign = submitted_case()
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    with force_locale("en"):
        english = reason_text(campaign.decision_reason)
    with force_locale("zh_CN"):
        chinese = reason_text(campaign.decision_reason)
    assert english.startswith("Verified automatically")
    assert chinese != english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


def test_the_reviewers_page_writes_the_checks_reason_out(app, client, login):
    """The review page's history and recorded reason show the report's summary, never the stored code."""
    from tests.factories import UserFactory

    campaign = submitted_case(confirmed=False)  # an unconfirmed stay: the checks send it to a reviewer
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    login(UserFactory(charity_staff=True))
    page = client.get(f"/staff/reviews/{campaign.id}").get_data(as_text=True)
    assert "@verification-report" not in page
    assert "social worker has not confirmed" in page
