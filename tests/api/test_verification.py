"""Verification through the API: submit and read the report end to end, import records (accepted and
refused), read an import batch, list the policies; and who may see what."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import CivilAffairsRecord
from tests.api.helpers import assert_problem
from tests.factories import UserFactory
from tests.verification.records import civil_affairs_row, insured, submitted_case, to_csv


def draft_with_records():
    campaign = submitted_case(state="draft", submitted_at=None)
    insured(campaign)
    return campaign


def test_submit_through_the_api_and_read_the_report(api, token_for):
    campaign = draft_with_records()
    family = token_for(campaign.applicant)

    submitted = api("POST", f"/campaigns/{campaign.id}/submit", token=family)
    assert submitted.status_code == 200
    # The verification job ran after the request committed (jobs inline): the case is verified.
    db.session.refresh(campaign)
    assert campaign.state == "verified"

    full = api("GET", f"/campaigns/{campaign.id}/verification", token=family)
    assert full.status_code == 200
    body = full.get_json()
    assert body["decision"] == "verified"
    assert body["policy_version"] == "341200-2026.2-illustrative"
    cascade = body["cascade"]
    assert cascade["total_cost_fen"] == 40_000_000
    assert (
        cascade["basic_fen"]
        + cascade["critical_illness_fen"]
        + cascade["assistance_fen"]
        + cascade["gap_fen"]
        == cascade["total_cost_fen"]
    )
    assert cascade["gap_yuan"].startswith("¥")
    private = body["private"]
    assert private["trigger"] == "submission"
    statuses = {check["code"]: check["status"] for check in private["checks"]}
    assert {code for code, status in statuses.items() if status != "pass"} == {"civil_affairs", "disclosure"}
    assert statuses["disclosure"] == "not_checked"
    assert all(check["message"] for check in private["checks"])
    assert private["records_snapshot"]["used"]["enrolment"] == f"YB-{campaign.id}"
    assert len(private["steps"]) == 4

    # A verified campaign is public: anyone gets the breakdown, nobody else the checks or the records.
    for token in (None, token_for(UserFactory())):
        public = api("GET", f"/campaigns/{campaign.id}/verification", token=token)
        assert public.status_code == 200
        assert public.get_json()["cascade"] == cascade
        assert "private" not in public.get_json()

    officer = api("GET", f"/campaigns/{campaign.id}/verification", token=token_for(UserFactory(officer=True)))
    assert "private" in officer.get_json()  # Linquan is in the Fuyang officer's jurisdiction


def test_a_case_under_review_is_not_public(api, token_for):
    campaign = submitted_case(confirmed=False)
    from fundraise.services.verification import verify_campaign

    verify_campaign(campaign.id, trigger="submission")
    assert api("GET", f"/campaigns/{campaign.id}/verification").status_code == 404
    staff = api(
        "GET", f"/campaigns/{campaign.id}/verification", token=token_for(UserFactory(charity_staff=True))
    )
    assert staff.status_code == 200
    assert staff.get_json()["decision"] == "needs_review"


def test_no_report_yet_is_404(api, token_for):
    campaign = submitted_case()
    db.session.commit()
    response = api("GET", f"/campaigns/{campaign.id}/verification", token=token_for(campaign.applicant))
    assert_problem(response, 404)


def upload(api, token, data: bytes, *, kind="civil_affairs", name="feed.csv", **fields):
    return api(
        "POST",
        "/records/imports",
        token=token,
        data={"kind": kind, "file": (io.BytesIO(data), name), **fields},
        content_type="multipart/form-data",
    )


def test_an_officer_imports_records_and_reads_the_batch(api, token_for):
    campaign = submitted_case()
    db.session.commit()
    officer = token_for(UserFactory(officer=True))

    created = upload(api, officer, to_csv([civil_affairs_row(campaign)]))

    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert (body["status"], body["rows_total"], body["rows_inserted"]) == ("imported", 1, 1)
    assert body["persons_affected"] == 1
    assert created.headers["Location"].endswith(f"/api/v1/records/imports/{body['id']}")
    assert body["errors"] == []  # an array, as documented, not null
    batch = api("GET", f"/records/imports/{body['id']}", token=officer)
    assert batch.status_code == 200
    assert batch.get_json()["rows_inserted"] == 1
    assert batch.get_json()["errors"] == []

    # JSON feeds too; the format is taken from the file name.
    rows = [
        civil_affairs_row(
            campaign, source_record_id="MZ-json", valid_from="2025-01-01", valid_to="2025-12-31"
        )
    ]
    as_json = upload(api, officer, json.dumps(rows).encode(), name="feed.json")
    assert as_json.status_code == 201
    assert as_json.get_json()["file_format"] == "json"


def test_a_refused_feed_is_422_with_row_errors_and_writes_nothing(api, token_for):
    campaign = submitted_case()
    db.session.commit()
    admin = token_for(UserFactory(admin=True))
    rows = [civil_affairs_row(campaign), civil_affairs_row(campaign, household_size="0")]

    refused = upload(api, admin, to_csv(rows))

    body = assert_problem(refused, 422)
    assert body["row_errors"] == [
        {
            "row": 2,
            "column": "household_size",
            "value": "0",
            "code": "out_of_range",
            "params": {"low": 1, "high": 50},
            "message": "household_size is not between 1 and 50",
        },
        {
            "row": 2,
            "column": "source_record_id",
            "value": f"MZ-{campaign.id}",
            "code": "repeated_id",
            "params": {"first_row": 1},
            "message": "source_record_id repeats row 1",
        },
    ]
    assert body["read_as"] == "utf-8"
    assert db.session.scalar(select(func.count(CivilAffairsRecord.id))) == 0
    batch = api("GET", f"/records/imports/{body['batch_id']}", token=admin).get_json()
    assert batch["status"] == "rejected"
    assert len(batch["errors"]) == 2


def test_import_form_errors_and_who_may_import(api, token_for):
    admin = token_for(UserFactory(admin=True))
    missing = api(
        "POST", "/records/imports", token=admin, data={"kind": "nonsense"}, content_type="multipart/form-data"
    )
    assert_problem(missing, 422, "kind", "file")
    unknown_format = upload(api, admin, b"x", name="feed.txt")
    assert_problem(unknown_format, 422, "format")
    not_multipart = api("POST", "/records/imports", token=admin, json={"kind": "civil_affairs"})
    assert_problem(not_multipart, 415)
    family = upload(api, token_for(UserFactory()), b"x")
    assert family.status_code == 403
    assert (
        api("GET", "/records/imports/1", token=token_for(UserFactory(charity_staff=True))).status_code == 403
    )


def test_an_officer_sees_only_their_own_batches(api, token_for):
    campaign = submitted_case()
    db.session.commit()
    mine = upload(api, token_for(UserFactory(admin=True)), to_csv([civil_affairs_row(campaign)])).get_json()
    other = token_for(UserFactory(officer=True))
    assert_problem(api("GET", f"/records/imports/{mine['id']}", token=other), 404)


def test_the_policies_are_public(api):
    response = api("GET", "/policies")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert {
        "region_code": "341200",
        "region_name": "阜阳市",
        "year": 2026,
        "version": "341200-2026.2-illustrative",
    } in items
    assert len(items) >= 3
