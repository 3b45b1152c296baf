"""How many files: per request and per campaign."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.family import routes as family_routes
from fundraise.models import Campaign, Document
from fundraise.services import documents
from fundraise.services.documents import Upload
from tests.api.helpers import assert_problem
from tests.factories import CampaignFactory, DocumentFactory
from tests.web import uploads
from tests.web.test_filing import (
    new_draft,
    pdf_bytes,
    png_bytes,
    snapshot,
    story_form,
    text_of,
    upload,
)
from tests.web.uploads import (
    api_client,
    api_upload,
)

app_settings = uploads.app_settings  # the fixture
family = uploads.family  # the fixture


def test_too_many_files_in_one_request_are_refused_before_any_is_read(app, client, family, monkeypatch):
    campaign_id = new_draft(client)
    before = snapshot(app)
    read: list[str] = []
    monkeypatch.setattr(family_routes, "read_upload", lambda *args: read.append(args[1]))
    photos = [upload(png_bytes(), f"p{n}.png") for n in range(11)]
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story", data={**story_form(), "photo": photos}
    )
    assert response.status_code == 422
    assert "You sent 11 files; send at most 10 at a time." in text_of(response)
    # Spread over several fields, the files still count together; each field shows the error.
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={
            "diagnosis": [upload(pdf_bytes(), f"d{n}.pdf") for n in range(6)],
            "identity": [upload(pdf_bytes(), f"i{n}.pdf") for n in range(5)],
            "go": "stay",
        },
    )
    assert response.status_code == 422
    # Each field shows the error, and the summary at the top links to each.
    assert text_of(response).count("You sent 11 files; send at most 10 at a time.") == 4
    assert read == []
    assert snapshot(app) == before


def test_too_many_files_in_one_request_are_refused_by_the_service(app, family):
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    files = [("photo", Upload(f"p{n}.png", png_bytes())) for n in range(11)]
    with pytest.raises(ValidationFailed) as refused:
        documents.attach(campaign, family, files)
    assert refused.value.fields == {"photo": ["You sent 11 files; send at most 10 at a time."]}
    assert db.session.scalars(select(Document)).first() is None


def test_the_api_takes_one_file_per_request(app, family):
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    api = api_client(app, family)
    before = snapshot(app)
    response = api_upload(
        api,
        campaign.id,
        [("photo", png_bytes(), "a.png"), ("photo", png_bytes(), "b.png")],
    )
    body = assert_problem(response, 422, "file")
    assert body["errors"]["file"] == ["Send one file per request; this request sent 2."]
    assert snapshot(app) == before


def test_a_campaign_holds_at_most_12_photos_and_30_evidence_documents(app, client, family):
    assert (app.config["MAX_CAMPAIGN_PHOTOS"], app.config["MAX_EVIDENCE_DOCUMENTS"]) == (12, 30)
    campaign_id = new_draft(client)
    campaign = db.session.get(Campaign, campaign_id)
    DocumentFactory.create_batch(11, campaign=campaign, kind="photo", content_type="image/png")
    DocumentFactory.create_batch(29, campaign=campaign, kind="household")
    db.session.commit()
    before = snapshot(app)

    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(png_bytes(), "a.png"), upload(png_bytes(), "b.png")]},
    )
    assert response.status_code == 422
    assert "A campaign can have at most 12 photos (it has 11)." in text_of(response)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={
            "diagnosis": [upload(pdf_bytes(), "d.pdf")],
            "identity": [upload(pdf_bytes(), "i.pdf")],
            "go": "stay",
        },
    )
    assert response.status_code == 422
    assert (
        text_of(response).count("A campaign can have at most 30 evidence documents (it has 29).") == 4
    )  # two fields, each linked from the summary
    assert snapshot(app) == before

    api = api_client(app, family)
    assert api_upload(api, campaign_id, [("photo", png_bytes(), "a.png")]).status_code == 201
    assert api_upload(api, campaign_id, [("diagnosis", pdf_bytes(), "d.pdf")]).status_code == 201
    body = assert_problem(api_upload(api, campaign_id, [("photo", png_bytes(), "b.png")]), 422, "file")
    assert body["errors"]["file"] == ["A campaign can have at most 12 photos (it has 12)."]
    body = assert_problem(api_upload(api, campaign_id, [("identity", pdf_bytes(), "i.pdf")]), 422, "file")
    assert body["errors"]["file"] == ["A campaign can have at most 30 evidence documents (it has 30)."]

    # Taking a file off the draft makes room again.
    photo = db.session.scalars(select(Document).where(Document.kind == "photo")).first()
    assert client.post(f"/family/campaigns/{campaign_id}/documents/{photo.id}/remove").status_code == 302
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(), "photo": [upload(png_bytes(), "c.png")]},
    )
    assert response.status_code == 302


def test_update_photos_are_limited_per_campaign(app, client, family):
    app.config["MAX_UPDATE_PHOTOS"] = 3
    campaign = CampaignFactory(applicant=family, state="fundraising", with_evidence=True)
    db.session.commit()
    photos = [upload(png_bytes(), f"u{n}.png") for n in range(2)]
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates", data={"body": "Round one is done.", "photos": photos}
    )
    assert response.status_code == 302
    before = snapshot(app)
    photos = [upload(png_bytes(), f"v{n}.png") for n in range(2)]
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates", data={"body": "Round two is done.", "photos": photos}
    )
    assert response.status_code == 422
    assert "updates can carry at most 3 photos in all (they have 2)." in html.unescape(text_of(response))
    assert snapshot(app) == before
