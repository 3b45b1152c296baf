"""The referral/filing answer (转诊/异地就医备案), the plan's admissions and next-year part, and the dated
year-to-date figures of the record feeds, carried from the forms and feeds to the stored report."""

from __future__ import annotations

from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign
from fundraise.models.records import BasicEnrolmentRecord, CivilAffairsRecord
from fundraise.services.records_import import import_feed
from fundraise.services.verification import verify_campaign
from fundraise.services.verification_reports import core_report
from tests.factories import CampaignFactory, UserFactory, hospital, user_of_role
from tests.verification.records import insured, submitted_case
from tests.web.test_filing import costs_form, diagnosis_form, family, new_draft, snapshot, text_of
from tests.web.test_records_import import civil_row, person, to_csv

__all__ = ["family"]  # the fixture, used by name


# --- the filing form -------------------------------------------------------------------------------------


def test_the_referral_answer_is_saved_and_a_changed_answer_drops_the_confirmation(app, client, family):
    campaign_id = new_draft(client)
    url = f"/family/campaigns/{campaign_id}/edit/diagnosis"
    page = text_of(client.get(url))
    assert "was the treatment referred and filed" in page
    assert client.post(url, data=diagnosis_form(referral_filed="yes")).status_code == 302
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.referral_filed is True

    worker = UserFactory(social_worker=True)
    campaign.referral_confirmed_by_id = worker.id
    campaign.referral_confirmed_at = campaign.created_at
    db.session.commit()
    # The same answer again keeps the confirmation; "not sure" is an answer that clears it.
    assert client.post(url, data=diagnosis_form(referral_filed="yes")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).referral_confirmed_at is not None
    assert client.post(url, data=diagnosis_form(referral_filed="")).status_code == 302
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.referral_filed is None
    assert (campaign.referral_confirmed_at, campaign.referral_confirmed_by_id) == (None, None)

    before = snapshot(app)
    response = client.post(url, data=diagnosis_form(referral_filed="perhaps"))
    assert response.status_code == 422
    assert "Choose yes, no or not sure." in text_of(response)
    assert snapshot(app) == before


def test_the_plan_s_admissions_and_next_year_part_are_saved(app, client, family):
    campaign_id = new_draft(client)
    data = costs_form(admissions="8", next_year_cost_fen="120000", next_year_admissions="3")
    assert client.post(f"/family/campaigns/{campaign_id}/edit/costs", data=data).status_code == 302
    campaign = db.session.get(Campaign, campaign_id)
    assert (campaign.admissions, campaign.next_year_admissions, campaign.next_year_cost_fen) == (
        8,
        3,
        12_000_000,
    )
    review = text_of(client.get(f"/family/campaigns/{campaign_id}/review"))
    assert "Admissions in all" in review
    assert "over 3 admissions" in review


def test_bad_next_year_figures_re_render_with_messages_and_change_nothing(app, client, family):
    campaign_id = new_draft(client)
    url = f"/family/campaigns/{campaign_id}/edit/costs"
    client.post(url, data=costs_form())
    before = snapshot(app)
    for changes, message in [
        ({"next_year_cost_fen": "500000"}, "cannot be more than the total cost"),
        ({"next_year_cost_fen": "100000", "next_year_admissions": "0"}, "at least one admission falls"),
        (
            {"admissions": "3", "next_year_cost_fen": "100000", "next_year_admissions": "3"},
            "at most 2 of the 3 admissions",
        ),
        ({"next_year_cost_fen": "0", "next_year_admissions": "2"}, "Enter 0, or enter the part"),
        ({"admissions": "0"}, "Enter the number of admissions (1 to 60)."),
        ({"admissions": "many"}, "Enter the number of admissions (1 to 60)."),
    ]:
        response = client.post(url, data=costs_form(house_note="changed", **changes))
        assert response.status_code == 422, changes
        page = text_of(response)
        assert message in page, changes
        assert 'value="changed"' in page  # everything typed is shown back
        assert snapshot(app) == before


# --- the social worker's confirmation --------------------------------------------------------------------


def test_confirming_the_stay_confirms_the_family_s_referral_answer(app, client, login):
    worker = login(user_of_role("social_worker"))  # at AH-PROV, outside Linquan's pooling region
    campaign = CampaignFactory(hospital=hospital("AH-PROV"), referral_filed=True)
    db.session.commit()
    page = text_of(client.get("/hospital/"))
    assert "The family says the treatment was referred and filed" in page

    assert client.post(f"/hospital/campaigns/{campaign.id}/confirm-stay").status_code == 302
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.stay_confirmed_by_id == worker.id
    assert campaign.referral_confirmed_by_id == worker.id
    assert campaign.referral_confirmed_at == campaign.stay_confirmed_at
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.confirm_stay")).one()
    assert event.after["referral_filed"] is True


def test_the_social_worker_answers_a_referral_the_family_left_open(app, client, login):
    login(user_of_role("social_worker"))
    campaign = CampaignFactory(hospital=hospital("AH-PROV"), referral_filed=None)
    db.session.commit()
    page = text_of(client.get("/hospital/"))
    assert "the family has not said whether the treatment was referred and filed" in page

    response = client.post(f"/hospital/campaigns/{campaign.id}/confirm-stay", data={"referral_filed": "no"})
    assert response.status_code == 302
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.referral_filed is False
    assert campaign.referral_confirmed_at is not None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.confirm_stay")).one()
    assert event.after["referral_filed"] is False
    assert event.after["referral_answered_by_hospital"] is True


# --- the feeds -------------------------------------------------------------------------------------------


def enrolment_row(n: int, **changes: str) -> dict[str, str]:
    row = {
        "source_record_id": f"YB-{n:05d}",
        "id_number": person(n),
        "name": f"居民{n}",
        "scheme": "resident",
        "pooling_region_code": "341200",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "year": "2026",
        "ytd_reimbursed_yuan": "18600",
        "ytd_in_policy_self_pay_yuan": "17512",
        "ytd_as_of": "2026-03-25",
    }
    row.update(changes)
    return row


def test_dated_year_to_date_figures_and_the_new_class_are_imported(app):
    admin = UserFactory(admin=True)
    db.session.commit()
    rows = [enrolment_row(1), enrolment_row(2, ytd_in_policy_self_pay_yuan="", ytd_as_of="")]
    assert import_feed("basic_enrolment", to_csv(rows), "csv", admin).accepted
    stored = {r.source_record_id: r for r in db.session.scalars(select(BasicEnrolmentRecord))}
    assert stored["YB-00001"].ytd_in_policy_self_pay_fen == 1_751_200
    assert stored["YB-00001"].ytd_as_of.isoformat() == "2026-03-25"
    assert (stored["YB-00002"].ytd_in_policy_self_pay_fen, stored["YB-00002"].ytd_as_of) == (None, None)

    civil = [civil_row(3, assistance_class="returned_to_poverty", ytd_as_of="2026-06-30")]
    assert import_feed("civil_affairs", to_csv(civil), "csv", admin).accepted
    record = db.session.scalars(select(CivilAffairsRecord)).one()
    assert (record.assistance_class, record.ytd_as_of.isoformat()) == ("returned_to_poverty", "2026-06-30")


def test_a_ytd_date_in_the_future_or_before_the_record_s_year_rejects_the_file(app):
    admin = UserFactory(admin=True)
    db.session.commit()
    rows = [
        enrolment_row(1, ytd_as_of="2999-01-01"),
        enrolment_row(2, ytd_as_of="2025-12-31"),
        enrolment_row(3, ytd_as_of="31/03/2026"),
    ]
    result = import_feed("basic_enrolment", to_csv(rows), "csv", admin)
    assert not result.accepted
    faults = {(error.row, error.column): error.message for error in result.errors}
    assert faults[(1, "ytd_as_of")] == "ytd_as_of is in the future"
    assert faults[(2, "ytd_as_of")] == "ytd_as_of is before the record's year (2026)"
    assert faults[(3, "ytd_as_of")] == "ytd_as_of is not a date in the form YYYY-MM-DD"
    assert db.session.scalars(select(BasicEnrolmentRecord)).first() is None


# --- verification ----------------------------------------------------------------------------------------


def test_a_verified_out_of_region_case_carries_the_confirmed_referral_in_its_report(app):
    campaign = submitted_case(referral_filed=True)  # Linquan patient at Anhui Provincial, in Hefei
    insured(campaign)

    report = verify_campaign(campaign.id, trigger="submission")

    assert report.decision == "verified"
    core = core_report(report)
    assert core is not None
    referral = next(check for check in core.checks if check.code == "referral")
    assert (referral.status, referral.reason_code) == ("pass", "referral_confirmed")
    assert referral.params["filed"] == 1
