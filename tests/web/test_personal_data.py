"""The person's rights over their data (issue 15): the archive and that it streams, deletion (a donor, a family
with an open campaign, staff refused), retention that ends (dry run and real run), and who looked."""

from __future__ import annotations

import io
import json
import types
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import (
    AuditEvent,
    Campaign,
    DeletionRequest,
    Document,
    Donation,
    LedgerEntry,
    Notification,
    User,
)
from fundraise.models.columns import utcnow
from fundraise.services import access_log, documents, retention
from tests.factories import PASSWORD, CampaignFactory, DocumentFactory, UserFactory
from tests.web.donations import english, pay_directly, signed_in


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english(app.test_client())


def _store(document: Document, data: bytes) -> None:
    documents.upload_dir().joinpath(document.stored_name).write_bytes(data)


def _csrf(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    marker = 'name="csrf_token" type="hidden" value="'
    if marker not in page:
        return ""
    return page.split(marker, 1)[1].split('"', 1)[0]


def _download(client: FlaskClient) -> Any:
    return client.post("/account/data/archive", data={"csrf_token": _csrf(client, "/account/data")})


def _count(model: Any, *conditions: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


# --- the archive -----------------------------------------------------------------------------------------


def test_the_archive_holds_the_family_s_data_and_files_and_is_audited(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising")
    diagnosis = DocumentFactory(campaign=campaign, kind="diagnosis")
    _store(diagnosis, b"%PDF-1.4 diagnosis")
    db.session.add(Notification(user_id=campaign.applicant_id, dedupe_key="n1", kind="x", params={}))
    client = signed_in(app, campaign.applicant)

    response = _download(client)

    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = set(archive.namelist())
    folder = f"campaigns/{campaign.id}"
    assert {
        "account.json",
        f"{folder}/campaign.json",
        f"{folder}/verification_reports.json",
        f"{folder}/documents.json",
        "donations_given.json",
        "receipts.json",
        "notifications.json",
        "who_looked.json",
    } <= names
    facts = json.loads(archive.read(f"{folder}/campaign.json"))
    assert facts["patient_name"] == "王小明"
    assert len(facts["patient_id_number"]) == 18
    assert "*" not in facts["patient_id_number"]
    assert "patient_id_ciphertext" not in facts
    assert "password_hash" not in json.loads(archive.read("account.json"))
    assert archive.read(f"{folder}/files/{diagnosis.id}-诊断证明.pdf") == b"%PDF-1.4 diagnosis"
    # The download and the full ID number it showed are both in the audit log.
    actions = set(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == campaign.applicant_id))
    )
    assert {"personal_data.export", access_log.REVEAL_ID} <= actions


def test_the_archive_streams_file_by_file(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising")
    for number in range(30):
        document = DocumentFactory(campaign=campaign, kind="diagnosis")
        _store(document, bytes([number % 256]) * 100_000)
    client = signed_in(app, campaign.applicant)

    response = _download(client)

    assert response.is_streamed
    assert isinstance(response.response, types.GeneratorType) or hasattr(response.response, "__next__")
    chunks = [chunk for chunk in response.response if chunk]
    # Each file goes out in pieces of its own, not as one body built in memory.
    assert len(chunks) > 30
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert len([name for name in archive.namelist() if "/files/" in name]) == 30
    assert archive.testzip() is None


# --- deletion --------------------------------------------------------------------------------------------


def _delete(client: FlaskClient, password: str = PASSWORD, confirm: bool = True) -> Any:
    data = {"csrf_token": _csrf(client, "/account/data/delete"), "password": password}
    if confirm:
        data["confirm"] = "y"
    return client.post("/account/data/delete", data=data)


def test_a_donor_s_deletion_erases_the_profile_and_keeps_the_gift_s_accounting(
    app: Flask, runner: Any
) -> None:
    donor = UserFactory(donor=True, name="李捐赠", email="li@example.cn")
    campaign = CampaignFactory(state="fundraising", target_fen=10_000_000)
    db.session.commit()
    gift = pay_directly(campaign, 50_000, display_name="李先生", message="加油")
    gift.donor_id = donor.id
    db.session.commit()
    entries_before = _count(LedgerEntry)
    client = signed_in(app, donor)

    page = client.get("/account/data/delete").get_data(as_text=True)
    assert "Your name, e-mail address and phone number" in page
    assert "Kept until" in page  # the gift's accounting record, with its date and legal basis

    wrong = _delete(client, password="not my password")
    assert wrong.status_code == 422
    done = _delete(client)

    assert done.status_code == 200, done.get_data(as_text=True)[:500]
    assert "Your data is deleted" in done.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get(User, donor.id)
    assert user is not None
    assert user.name == ""
    assert user.email == f"deleted-{donor.id}@invalid"
    assert not user.active
    gift = db.session.get(Donation, gift.id)
    assert gift is not None
    assert (gift.display_name, gift.message, gift.donor_id, gift.amount_fen) == ("", "", None, 50_000)
    request = db.session.scalar(select(DeletionRequest).where(DeletionRequest.user_id == donor.id))
    assert request is not None
    assert request.state == "partly_done"
    kinds = {(item["kind"], item["outcome"]) for item in request.outcome}
    assert ("account_profile", "erased") in kinds
    assert ("donations", "retained") in kinds
    assert _count(LedgerEntry) == entries_before
    # Signed out, and the old password opens nothing.
    assert client.get("/account/data").status_code == 302
    assert client.post("/login", data={"email": "li@example.cn", "password": PASSWORD}).status_code != 302
    # The audit chain and the ledger still verify.
    assert runner.invoke(args=["audit", "seal"]).exit_code == 0
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    checked = runner.invoke(args=["ledger", "check"])
    assert checked.exit_code == 0, checked.output


def test_a_family_with_a_fundraising_campaign_waits_until_it_ends(app: Flask) -> None:
    campaign = CampaignFactory(state="fundraising")
    draft_id = CampaignFactory(applicant=campaign.applicant).id
    family_id, campaign_id = campaign.applicant_id, campaign.id
    client = signed_in(app, campaign.applicant)

    page = client.get("/account/data/delete").get_data(as_text=True)
    assert "Your campaign is still open" in page
    response = _delete(client)

    assert response.status_code == 302
    db.session.expire_all()
    request = db.session.scalar(select(DeletionRequest).where(DeletionRequest.user_id == family_id))
    assert request is not None
    assert request.state == "received"
    assert request.waiting_code == "campaign_open"
    assert db.session.get(User, family_id).active  # type: ignore[union-attr]  # still there to close out
    assert db.session.get(Campaign, draft_id) is not None
    assert "waiting for your campaign to end" in client.get("/account/data").get_data(as_text=True)

    # Cancelled: the next retention run carries the request out (the draft goes, the case is kept).
    db.session.execute(
        Campaign.__table__.update()
        .where(Campaign.id == campaign_id)
        .values(state="cancelled", state_changed_at=utcnow())
    )
    db.session.commit()
    results = {result.kind: result.count for result in retention.run(dry_run=False)}
    assert results["deletion_remainders"] == 1
    db.session.expire_all()
    request = db.session.get(DeletionRequest, request.id)
    assert request is not None
    assert request.state == "partly_done"
    assert db.session.get(Campaign, draft_id) is None
    assert db.session.get(Campaign, campaign_id) is not None
    assert not db.session.get(User, family_id).active  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["charity_staff", "civil_affairs_officer", "admin", "social_worker"])
def test_a_staff_account_is_refused(app: Flask, role: str) -> None:
    from tests.factories import user_of_role

    staff = user_of_role(role)
    client = signed_in(app, staff)
    page = client.get("/account/data/delete")
    assert page.status_code == 200
    assert "Staff accounts cannot be deleted here" in page.get_data(as_text=True)
    _delete(client)
    assert _count(DeletionRequest) == 0
    assert db.session.get(User, staff.id).active  # type: ignore[union-attr]


# --- retention -------------------------------------------------------------------------------------------


def test_a_dry_run_deletes_nothing_and_the_real_run_deletes_what_it_reported(app: Flask, runner: Any) -> None:
    old = utcnow() - timedelta(days=400)
    stale = CampaignFactory()
    fresh = CampaignFactory()
    document = DocumentFactory(campaign=stale)
    _store(document, b"stale")
    db.session.commit()
    stale_id, fresh_id, stored_name = stale.id, fresh.id, document.stored_name
    db.session.execute(Campaign.__table__.update().where(Campaign.id == stale_id).values(updated_at=old))
    db.session.commit()

    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "draft_unsubmitted: would delete 1" in dry.output
    assert _count(Campaign, Campaign.id == stale_id) == 1
    events = _count(AuditEvent)

    real = runner.invoke(args=["retention", "run"])
    assert real.exit_code == 0, real.output
    assert "draft_unsubmitted: deleted 1" in real.output
    db.session.expire_all()
    assert _count(Campaign, Campaign.id == stale_id) == 0
    assert _count(Campaign, Campaign.id == fresh_id) == 1
    assert not documents.upload_dir().joinpath(stored_name).exists()
    run_event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.run"))
    assert run_event is not None
    assert run_event.after["draft_unsubmitted"] == 1
    assert _count(AuditEvent) > events
    assert runner.invoke(args=["audit", "seal"]).exit_code == 0
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    assert runner.invoke(args=["ledger", "check"]).exit_code == 0


# --- who looked ------------------------------------------------------------------------------------------


def test_who_looked_lists_only_the_person_s_own_case(app: Flask) -> None:
    mine = CampaignFactory(state="fundraising")
    other = CampaignFactory(state="fundraising")
    staff = UserFactory(charity_staff=True)
    db.session.flush()
    mine_doc = DocumentFactory(campaign=mine, kind="identity")
    other_doc = DocumentFactory(campaign=other, kind="household")
    access_log.record_document_view(mine_doc, staff)
    access_log.record_document_view(other_doc, staff)
    client = signed_in(app, mine.applicant)

    page = client.get("/account/data").get_data(as_text=True)

    assert "Who looked at your case" in page
    assert f"#{mine_doc.id}" in page
    assert f"#{other_doc.id}" not in page
    assert staff.name not in page
    assert staff.email not in page
    assert "Charity staff" in page


def test_the_run_clears_old_rejected_cases_and_evidence_of_ended_cases_but_keeps_bills(
    app: Flask, runner: Any
) -> None:
    long_ago = utcnow() - timedelta(days=4 * 365)
    rejected = CampaignFactory(state="rejected", state_changed_at=long_ago)
    ended = CampaignFactory(state="closed", ended_at=long_ago, ended_code="closed_out")
    recent = CampaignFactory(state="rejected", state_changed_at=utcnow())
    for campaign in (rejected, ended, recent):
        DocumentFactory(campaign=campaign, kind="identity")
    bill = DocumentFactory(campaign=ended, kind="bill")
    staff = UserFactory(charity_staff=True)
    db.session.flush()
    from fundraise.models import LoginSession

    db.session.add(
        LoginSession(user_id=staff.id, key_hash="0" * 64, created_at=long_ago, expires_at=long_ago, device="")
    )
    db.session.commit()
    rejected_id, ended_id, recent_id, bill_id = rejected.id, ended.id, recent.id, bill.id

    dry = {result.kind: result.count for result in retention.run(dry_run=True)}
    assert dry["rejected_case"] == 1
    assert dry["evidence_documents"] == 1  # the ended case's identity document (not its bill)
    assert dry["access_logs"] == 1
    assert _count(Document) == 4

    real = {result.kind: result.count for result in retention.run(dry_run=False)}
    assert real == dry
    db.session.expire_all()
    cleared = db.session.get(Campaign, rejected_id)
    assert cleared is not None
    assert cleared.patient_name == ""
    assert cleared.patient_id_ciphertext is None
    assert db.session.get(Campaign, recent_id).patient_name == "王小明"  # type: ignore[union-attr]
    assert set(db.session.scalars(select(Document.campaign_id))) == {ended_id, recent_id}
    assert db.session.get(Document, bill_id) is not None
    assert _count(LoginSession) == 0
    # A second run finds nothing left to do.
    again = {result.kind: result.count for result in retention.run(dry_run=False)}
    assert again["rejected_case"] == 0
    assert again["evidence_documents"] == 0
    assert runner.invoke(args=["audit", "seal"]).exit_code == 0
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_the_api_exports_and_takes_a_deletion_request(app: Flask) -> None:
    from fundraise.services import accounts

    donor = UserFactory(donor=True)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    _token, plain = accounts.create_token(donor, "export")
    _staff_token, staff_plain = accounts.create_token(staff, "export")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {plain}"}

    archive = client.get("/api/v1/me/data", headers=headers)
    assert archive.status_code == 200
    assert archive.mimetype == "application/zip"
    assert "account.json" in zipfile.ZipFile(io.BytesIO(archive.get_data())).namelist()

    refused = client.post(
        "/api/v1/me/deletion-requests",
        json={"password": PASSWORD},
        headers={"Authorization": f"Bearer {staff_plain}"},
    )
    assert refused.status_code == 403
    wrong = client.post("/api/v1/me/deletion-requests", json={"password": "wrong"}, headers=headers)
    assert wrong.status_code == 422
    made = client.post("/api/v1/me/deletion-requests", json={"password": PASSWORD}, headers=headers)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["state"] == "done"
    # The token went with the account.
    assert client.get("/api/v1/me/data", headers=headers).status_code == 401


def test_the_demo_shows_a_download_and_two_deletions(app: Flask) -> None:
    from fundraise.services.demo import seed_demo

    seed_demo()
    states = sorted(db.session.scalars(select(DeletionRequest.state)))
    assert states == ["done", "partly_done"]
    assert _count(AuditEvent, AuditEvent.action == "personal_data.export") == 1
    admin = db.session.scalar(select(User).where(User.email == "admin@demo.aidbridge.cn"))
    client = english(app.test_client())
    assert client.post("/login", data={"email": admin.email, "password": "aidbridge-demo"}).status_code == 302  # type: ignore[union-attr]
    page = client.get("/admin/deletion-requests").get_data(as_text=True)
    assert "Kept until" in page
    assert "Erased" in page
