"""Issue 13: an officer draws reproducible random samples of their recipients, records findings (open →
resolved, with files), and exports them as CSV and as a printable PDF; nothing of another jurisdiction is
shown to them, on the pages or through the API."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, Document, Finding, RegisterSample, User
from fundraise.services import sampling
from fundraise.services.accounts import create_token
from tests.api.conformance import DocumentedResponses, conforming_client
from tests.api.helpers import PDF_BYTES, bearer, forget_request_globals, png_bytes
from tests.factories import PASSWORD, CampaignFactory, UserFactory, user_of_role


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return client


def opened(client: FlaskClient, document: Document) -> int:
    """The status of opening the file (the response closed, so the file is too)."""
    response = client.get(f"/documents/{document.id}")
    response.close()
    return response.status_code


def officer(code: str = "341200") -> User:
    return UserFactory(officer=True, jurisdiction_code=code)


def recipients(count: int, region: str = "341221") -> list[Campaign]:
    made = [CampaignFactory(state="fundraising", patient_region_code=region) for _ in range(count)]
    db.session.commit()
    return made


def draw(client: FlaskClient, **form: Any) -> RegisterSample:
    response = client.post("/staff/register/samples", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    sample_id = int(response.headers["Location"].rsplit("/", 1)[1])
    sample = db.session.get(RegisterSample, sample_id)
    assert sample is not None
    return sample


# --- samples ---------------------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_sample_and_another_seed_another(app: Flask) -> None:
    made = recipients(12)
    CampaignFactory(state="draft")  # not a recipient
    CampaignFactory(state="fundraising", patient_region_code="110105")  # another jurisdiction
    client = signed_in(app, officer())
    db.session.commit()

    first = draw(client, method="size", size="5", seed="2024")
    again = draw(client, method="size", size="5", seed="2024")
    other = draw(client, method="size", size="5", seed="7")

    assert first.population == 12
    assert first.campaign_ids == again.campaign_ids
    assert len(first.campaign_ids) == 5
    assert set(first.campaign_ids) <= {c.id for c in made}
    assert other.campaign_ids != first.campaign_ids
    assert first.campaign_ids == sampling.draw([c.id for c in made], 2024, 5)
    page = client.get(f"/staff/register/samples/{first.id}").get_data(as_text=True)
    assert "2024" in page
    for campaign_id in first.campaign_ids:
        assert f'href="/staff/register/{campaign_id}"' in page
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "register.sample", AuditEvent.object_id == str(first.id)
        )
    )
    assert event is not None
    assert event.after is not None
    assert event.after["seed"] == 2024


def test_a_sample_by_share_rounds_up_and_an_empty_seed_is_chosen_and_shown(app: Flask) -> None:
    recipients(9)
    client = signed_in(app, officer())

    sample = draw(client, method="share", share_percent="25")

    assert sample.share_percent == 25
    assert sample.size is None
    assert len(sample.campaign_ids) == 3  # 25 % of 9, rounded up
    assert str(sample.seed) in client.get(f"/staff/register/samples/{sample.id}").get_data(as_text=True)
    too_many = draw(client, method="size", size="50", seed="1")
    assert len(too_many.campaign_ids) == 9


def test_a_sample_form_with_neither_size_nor_share_is_refused(app: Flask) -> None:
    recipients(2)
    client = signed_in(app, officer())

    response = client.post("/staff/register/samples", data={"method": "size", "seed": "3"})

    assert response.status_code == 422
    assert db.session.scalar(select(RegisterSample.id)) is None


# --- findings --------------------------------------------------------------------------------------------


def record(client: FlaskClient, campaign: Campaign, **extra: Any) -> Finding:
    data = {"title": "Bills do not match", "note": "The hospital's bill is dated before admission.", **extra}
    response = client.post(
        f"/staff/register/findings/new?campaign_id={campaign.id}",
        data=data,
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    finding = db.session.get(Finding, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert finding is not None
    return finding


def test_a_finding_goes_from_open_to_resolved_with_a_note_and_its_file(app: Flask) -> None:
    (campaign,) = recipients(1)
    client = signed_in(app, officer())
    sample = draw(client, method="size", size="1", seed="1")

    finding = record(
        client,
        campaign,
        files=[(io.BytesIO(PDF_BYTES), "letter.pdf")],
        **{"title": "Bills do not match"},
    )
    finding_with_sample = client.post(
        f"/staff/register/findings/new?campaign_id={campaign.id}&sample_id={sample.id}",
        data={"title": "Checked in the sample"},
    )
    assert finding_with_sample.status_code == 303

    assert finding.status == "open"
    (document,) = finding.attachments
    assert document.kind == "finding_attachment"
    page = client.get(f"/staff/register/findings/{finding.id}").get_data(as_text=True)
    assert "Bills do not match" in page
    assert "letter.pdf" in page
    assert "Open" in page
    assert opened(client, document) == 200

    refused = client.post(f"/staff/register/findings/{finding.id}/resolve", data={"resolution": "ok"})
    assert refused.status_code == 422
    done = client.post(
        f"/staff/register/findings/{finding.id}/resolve",
        data={"resolution": "The hospital reissued the bill."},
    )
    assert done.status_code == 303
    db.session.refresh(finding)
    assert finding.status == "resolved"
    assert finding.resolved_at is not None
    listed = client.get("/staff/register/findings?status=resolved").get_data(as_text=True)
    assert "Bills do not match" in listed
    assert "Checked in the sample" not in listed
    again = client.post(
        f"/staff/register/findings/{finding.id}/resolve", data={"resolution": "Resolved a second time."}
    )
    assert again.status_code == 303  # refused with a message
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "finding")))
    assert actions == {"finding.record", "finding.resolve"}


def test_the_family_cannot_open_an_officers_file_and_cannot_attach_one(app: Flask) -> None:
    (campaign,) = recipients(1)
    client = signed_in(app, officer())
    finding = record(client, campaign, files=[(io.BytesIO(png_bytes()), "photo.png")])
    (document,) = finding.attachments

    family = signed_in(app, campaign.applicant)

    assert opened(family, document) == 404
    staff = signed_in(app, user_of_role("charity_staff"))
    db.session.commit()
    assert opened(staff, document) == 200


def test_an_officer_of_another_prefix_sees_no_sample_finding_or_file(app: Flask) -> None:
    (campaign,) = recipients(1)
    mine = signed_in(app, officer())
    sample = draw(mine, method="size", size="1", seed="5")
    finding = record(mine, campaign, files=[(io.BytesIO(PDF_BYTES), "letter.pdf")])
    (document,) = finding.attachments
    other = signed_in(app, officer("110000"))
    db.session.commit()

    assert other.get(f"/staff/register/samples/{sample.id}").status_code == 404
    assert other.get(f"/staff/register/findings/{finding.id}").status_code == 404
    assert opened(other, document) == 404
    assert (
        other.post(
            f"/staff/register/findings/{finding.id}/resolve", data={"resolution": "Not mine at all"}
        ).status_code
        == 404
    )
    assert other.get(f"/staff/register/findings/new?campaign_id={campaign.id}").status_code == 404
    assert "Bills do not match" not in other.get("/staff/register/findings").get_data(as_text=True)
    assert "Bills do not match" not in other.get("/staff/register/findings/export.csv").get_data(as_text=True)


def test_staff_read_every_finding_and_change_none(app: Flask) -> None:
    (campaign,) = recipients(1)
    finding = record(signed_in(app, officer()), campaign)
    staff = signed_in(app, user_of_role("charity_staff"))
    db.session.commit()

    assert staff.get(f"/staff/register/findings/{finding.id}").status_code == 200
    assert "Mark as resolved" not in staff.get(f"/staff/register/findings/{finding.id}").get_data(
        as_text=True
    )
    assert (
        staff.post(
            f"/staff/register/findings/{finding.id}/resolve", data={"resolution": "Staff say so"}
        ).status_code
        == 403
    )


# --- exports ---------------------------------------------------------------------------------------------


def test_the_findings_csv_is_streamed_with_a_bom_and_escapes_a_formula(app: Flask) -> None:
    (campaign,) = recipients(1)
    client = signed_in(app, officer())
    record(client, campaign, title='=HYPERLINK("http://evil.example","x")')

    response = client.get("/staff/register/findings/export.csv")

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    assert "'=HYPERLINK" in text
    assert re.search(r"(^|,)=HYPERLINK", text, re.MULTILINE) is None
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "register.export_findings_csv"))


def test_the_summary_pdf_names_the_jurisdiction(app: Flask) -> None:
    campaign, _other = recipients(2)
    client = signed_in(app, officer())
    draw(client, method="size", size="1", seed="11")
    record(client, campaign)

    response = client.get("/staff/register/summary.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    body = response.get_data()
    assert body.startswith(b"%PDF")
    assert b"341200" in body
    assert b"STSong-Light" in body
    zh = signed_in(app, db.session.scalar(select(User).where(User.role == "civil_affairs_officer")))
    zh.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert zh.get("/staff/register/summary.pdf").get_data().startswith(b"%PDF")
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "register.export_summary_pdf"))


# --- API -------------------------------------------------------------------------------------------------


@pytest.fixture
def officer_api(app: Flask) -> tuple[FlaskClient, dict[str, str]]:
    user = officer()
    db.session.commit()
    _token, plaintext = create_token(user, "test")
    db.session.commit()
    forget_request_globals()
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    # Every answer is checked against what the OpenAPI document promises, as in tests/api.
    return conforming_client(app, DocumentedResponses(served)), bearer(plaintext)


def test_api_round_trip(app: Flask, officer_api: tuple[FlaskClient, dict[str, str]]) -> None:
    made = recipients(6)
    client, headers = officer_api

    drawn = client.post("/api/v1/register/samples", json={"size": 3, "seed": 99}, headers=headers)
    assert drawn.status_code == 201, drawn.get_json()
    sample = drawn.get_json()
    assert sample["campaign_ids"] == sampling.draw([c.id for c in made], 99, 3)
    assert client.get(drawn.headers["Location"], headers=headers).get_json() == sample
    both = client.post("/api/v1/register/samples", json={"size": 3, "share_percent": 10}, headers=headers)
    assert both.status_code == 422

    campaign_id = sample["campaign_ids"][0]
    created = client.post(
        "/api/v1/register/findings",
        json={"campaign_id": campaign_id, "title": "Two hospitals billed", "sample_id": sample["id"]},
        headers=headers,
    )
    assert created.status_code == 201, created.get_json()
    finding = created.get_json()
    assert finding["status"] == "open"
    assert finding["sample_id"] == sample["id"]
    listed = client.get("/api/v1/register/findings?status=open", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [finding["id"]]

    resolved = client.post(
        f"/api/v1/register/findings/{finding['id']}/resolve",
        json={"resolution": "Second bill withdrawn."},
        headers=headers,
    )
    assert resolved.status_code == 200
    assert resolved.get_json()["status"] == "resolved"
    assert (
        client.post(
            f"/api/v1/register/findings/{finding['id']}/resolve",
            json={"resolution": "Once more, please."},
            headers=headers,
        ).status_code
        == 409
    )

    elsewhere = CampaignFactory(state="fundraising", patient_region_code="110105")
    db.session.commit()
    outside = client.post(
        "/api/v1/register/findings", json={"campaign_id": elsewhere.id, "title": "Not mine"}, headers=headers
    )
    assert outside.status_code == 404
    other = UserFactory(officer=True, jurisdiction_code="110000")
    db.session.commit()
    _token, plaintext = create_token(other, "other")
    db.session.commit()
    assert (
        client.get(f"/api/v1/register/samples/{sample['id']}", headers=bearer(plaintext)).status_code == 404
    )
    assert (
        client.get(f"/api/v1/register/findings/{finding['id']}", headers=bearer(plaintext)).status_code == 404
    )
    assert db.session.scalar(select(Document.id)) is None
