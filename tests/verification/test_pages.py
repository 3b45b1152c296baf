"""Verification on the pages: the family's report, the reviewer's checks beside the records, the public
breakdown, the changed-outcome list, and the officers' records import with its row-level error report."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import CivilAffairsRecord, ImportBatch, VerificationReport
from fundraise.services.verification import verify_campaign
from tests.factories import UserFactory
from tests.verification.records import (
    civil_affairs_row,
    import_rows,
    insured,
    submitted_case,
    to_csv,
)


def test_the_family_sees_each_check_the_cascade_and_the_cap_in_plain_words(app, client, login):
    campaign = submitted_case()
    insured(campaign, civil_affairs="dibao")
    report = verify_campaign(campaign.id, trigger="submission")
    login(campaign.applicant)

    page = client.get(f"/family/campaigns/{campaign.id}/verification")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Claim medical assistance first" in html
    assert "minimum living allowance (dibao)" in html  # the class by name, not its code
    assert "The target was lowered from ¥150,000 to" in html
    assert "Passed" in html
    assert "Needs review" in html
    # The cascade chart and its table: each tier's amount, formatted.
    for column in ("basic_fen", "critical_illness_fen", "assistance_fen", "gap_fen"):
        amount = getattr(report, column)
        assert f"¥{amount // 100:,}" in html, column
    assert 'class="cascade-bar"' in html
    assert page.headers["Cache-Control"] == "no-store"

    dashboard = client.get("/family/").get_data(as_text=True)
    assert f"/family/campaigns/{campaign.id}/verification" in dashboard
    assert "Claim medical assistance first" in dashboard
    # The message, the gap and the target agree: the target does not ask donors for the assistance.
    assert "The gap and the target already leave it out" in dashboard
    assert report.assistance_fen > 0
    assert report.capped_target_fen <= report.gap_fen


def test_the_report_is_only_for_the_applicant_side(app, client, login):
    campaign = submitted_case()
    verify_campaign(campaign.id, trigger="submission")
    login(UserFactory())
    assert client.get(f"/family/campaigns/{campaign.id}/verification").status_code == 404


def test_the_hospitals_social_worker_sees_the_report(app, client, login):
    campaign = submitted_case()
    verify_campaign(campaign.id, trigger="submission")
    login(UserFactory(social_worker=True))
    assert client.get(f"/family/campaigns/{campaign.id}/verification").status_code == 200


def test_the_reviewer_sees_the_checks_beside_the_records_and_can_run_them_again(app, client, login):
    campaign = submitted_case()
    insured(campaign, civil_affairs="dibao")
    verify_campaign(campaign.id, trigger="submission")
    login(UserFactory(charity_staff=True))

    html = client.get(f"/staff/reviews/{campaign.id}").get_data(as_text=True)

    assert "Automatic checks" in html
    assert f"YB-{campaign.id}" in html
    assert f"MZ-{campaign.id}" in html
    assert "Records on file when the checks ran" in html
    assert "Evidence documents" in html  # the existing evidence panel is still there
    again = client.post(f"/staff/reviews/{campaign.id}/verify-again", follow_redirects=True)
    assert "found nothing new" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(VerificationReport.id))) == 1


def test_a_changed_outcome_is_listed_for_staff_until_seen(app, client, login):
    campaign = submitted_case()
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    import_rows("civil_affairs", [civil_affairs_row(campaign, "dibao")])
    relay()
    login(UserFactory(charity_staff=True))

    dashboard = client.get("/staff/").get_data(as_text=True)
    assert "Changed after records import" in dashboard
    assert "<strong>1</strong>" in dashboard
    listing = client.get("/staff/verification/changed").get_data(as_text=True)
    assert f"#{campaign.id}" in listing
    latest = db.session.scalar(select(VerificationReport).order_by(VerificationReport.id.desc()).limit(1))
    assert latest is not None
    client.post(f"/staff/verification/reports/{latest.id}/acknowledge")
    assert f"#{campaign.id} " not in client.get("/staff/verification/changed").get_data(as_text=True)
    assert latest.acknowledged_at is not None


def test_the_public_page_shows_the_verified_breakdown_with_the_date(app, client):
    campaign = submitted_case()
    insured(campaign)
    report = verify_campaign(campaign.id, trigger="submission")
    url, gap, version = f"/campaigns/{campaign.id}", report.gap_fen, report.policy_version
    campaign.state = "fundraising"
    db.session.commit()

    html = client.get(url).get_data(as_text=True)

    assert "Verified breakdown" in html
    assert "verified-mark" in html
    assert f"¥{gap // 100:,}" in html
    assert version in html


def test_no_breakdown_for_a_public_campaign_without_a_report(app, client):
    campaign = submitted_case(state="fundraising")
    url = f"/campaigns/{campaign.id}"
    db.session.commit()
    assert "Verified breakdown" not in client.get(url).get_data(as_text=True)


def test_the_costs_step_records_that_assistance_was_claimed(app, client, login):
    campaign = submitted_case(state="draft", submitted_at=None)
    db.session.commit()
    login(campaign.applicant)
    form = {
        "cost_total_fen": "400000",
        "cost_in_policy_fen": "300000",
        "target_fen": "150000",
        "household_income_fen": "48000",
        "household_size": "4",
        "owns_house": "yes",
        "owns_car": "no",
        "savings_fen": "0",
        "commercial_insurance_fen": "0",
        "other_fundraising_fen": "0",
        "assistance_claimed": "y",
        "go": "stay",
    }
    assert client.post(f"/family/campaigns/{campaign.id}/edit/costs", data=form).status_code == 302
    assert campaign.assistance_claimed is True
    form.pop("assistance_claimed")
    client.post(f"/family/campaigns/{campaign.id}/edit/costs", data=form)
    assert campaign.assistance_claimed is False


def officer_upload(client, data: bytes, kind: str = "civil_affairs", name: str = "feed.csv"):
    return client.post(
        "/staff/records",
        data={"kind": kind, "file_format": "", "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_an_officer_imports_a_feed_and_the_cases_are_checked_again(app, client, login):
    campaign = submitted_case()
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    login(UserFactory(officer=True))

    response = officer_upload(client, to_csv([civil_affairs_row(campaign, "dibao")]))

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Imported" in html
    assert "New records" in html
    relay()  # the test client's request relayed already; nothing is left
    assert db.session.scalar(select(func.count(VerificationReport.id))) == 2


def test_a_bad_feed_lists_the_row_errors_writes_nothing_and_offers_the_report(app, client, login):
    campaign = submitted_case()
    good = civil_affairs_row(campaign, "dibao")
    bad = civil_affairs_row(campaign, "rich", source_record_id="MZ-bad", valid_from="2026-13-01")
    officer = login(UserFactory(officer=True))

    response = officer_upload(client, to_csv([good, bad]))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was imported" in html
    assert "assistance_class" in html
    assert "valid_from" in html
    assert db.session.scalar(select(func.count(CivilAffairsRecord.id))) == 0
    batch = db.session.scalar(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(1))
    assert batch is not None
    assert batch.actor_id == officer.id
    csv_response = client.get(f"/staff/records/batches/{batch.id}/errors.csv")
    assert csv_response.status_code == 200
    assert csv_response.mimetype == "text/csv"
    body = csv_response.get_data(as_text=True)
    assert body.startswith("\ufeffrow,column,value,message")
    assert "2,assistance_class,rich" in body


def test_the_import_form_needs_a_kind_and_a_file(app, client, login):
    login(UserFactory(admin=True))
    response = client.post("/staff/records", data={"kind": ""}, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose the kind of records." in html
    assert "Choose the file to import." in html
    unknown = officer_upload(client, b"x", name="feed.txt")
    assert unknown.status_code == 422
    assert "Say whether the file is CSV, JSON or Excel (.xlsx)." in unknown.get_data(as_text=True)


def test_families_and_staff_may_not_import(app, client, login):
    login(UserFactory(charity_staff=True))
    assert client.get("/staff/records").status_code == 403


@pytest.mark.parametrize(
    "target",
    ["//evil.example/phish", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "\t//evil.x"],
)
def test_acknowledging_never_redirects_off_the_site(app, client, login, target):
    campaign = submitted_case()
    insured(campaign)
    verify_campaign(campaign.id, trigger="submission")
    report = db.session.scalar(select(VerificationReport).limit(1))
    login(UserFactory(charity_staff=True))
    response = client.post(f"/staff/verification/reports/{report.id}/acknowledge", data={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/verification/changed"
    # A path on this site is kept.
    kept = client.post(
        f"/staff/verification/reports/{report.id}/acknowledge", data={"next": "/staff/reviews/1#verification"}
    )
    assert kept.headers["Location"] == "/staff/reviews/1#verification"


def test_once_a_reviewer_decides_the_report_says_so_not_that_a_reviewer_will_look(app, client, login):
    """A campaign showed 'verified' beside a 'needs a reviewer' badge, and its report still said a reviewer
    would look after one had approved it: the campaign's state is the one source of truth."""
    campaign = submitted_case(confirmed=False)
    report = verify_campaign(campaign.id, trigger="submission")
    assert report.decision == "needs_review"
    login(campaign.applicant)
    path = f"/family/campaigns/{campaign.id}/verification"

    waiting = client.get(path).get_data(as_text=True)
    assert "Needs a reviewer" in waiting
    assert "A charity reviewer will look at them" in waiting

    campaign.state = "fundraising"  # approved by the reviewer, then opened
    db.session.commit()
    approved = client.get(path).get_data(as_text=True)
    assert "Approved by a reviewer" in approved
    assert "a charity reviewer looked at them and approved the case" in approved
    assert "Needs a reviewer" not in approved
    assert "will look at them" not in approved
    assert "Approved by a reviewer" in client.get("/family/").get_data(as_text=True)
    api = client.get(f"/api/v1/campaigns/{campaign.id}/verification").json
    assert (api["decision"], api["reviewer_decision"]) == ("needs_review", "approved")

    campaign.state = "rejected"
    db.session.commit()
    assert "Not approved by a reviewer" in client.get(path).get_data(as_text=True)
