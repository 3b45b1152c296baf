"""No database lock is held while files are prepared, and two uploads at once cannot take a campaign over its
limit."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from fundraise.database import release_read_transaction
from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignUpdate, User
from fundraise.services import documents
from fundraise.services.documents import Upload
from tests.factories import CampaignFactory
from tests.web import uploads
from tests.web.test_filing import (
    new_draft,
    pdf_bytes,
    png_bytes,
    story_form,
    upload,
)
from tests.web.uploads import (
    api_client,
    api_upload,
)

app_settings = uploads.app_settings  # the fixture
family = uploads.family  # the fixture


def another_connection_can_write(app) -> bool:
    """Whether, right now, the session holds no transaction and (on SQLite) a second connection can take the
    write lock at once, without waiting."""
    if db.session().in_transaction():
        return False
    if db.engine.dialect.name != "sqlite":
        return True
    path = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # "database is locked"
        return False
    finally:
        other.close()


@pytest.fixture
def writable_while_checked(app, monkeypatch) -> list[bool]:
    """For each file checked (and decoded) during the test, whether another connection could write then."""
    seen: list[bool] = []
    checked = documents._checked

    def checking(upload: Upload, kind: str, field: str) -> tuple[str, bytes]:
        seen.append(another_connection_can_write(app))
        return checked(upload, kind, field)

    monkeypatch.setattr(documents, "_checked", checking)
    return seen


def test_no_lock_is_held_while_a_filing_step_decodes_its_files(app, client, family, writable_while_checked):
    campaign_id = new_draft(client)
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/story",
        data={**story_form(title="A new title"), "photo": [upload(png_bytes(), "a.png")]},
    )
    assert response.status_code == 302
    response = client.post(
        f"/family/campaigns/{campaign_id}/edit/documents",
        data={"diagnosis": [upload(pdf_bytes(), "d.pdf")], "go": "stay"},
    )
    assert response.status_code == 302
    assert writable_while_checked == [True, True]
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.title == "A new title"
    assert len(campaign.documents) == 2


def test_no_lock_is_held_while_update_photos_decode(app, client, family, writable_while_checked):
    campaign = CampaignFactory(applicant=family, state="fundraising", with_evidence=True)
    db.session.commit()
    response = client.post(
        f"/family/campaigns/{campaign.id}/updates",
        data={"body": "Chemotherapy round two is done.", "photos": [upload(png_bytes(), "ward.png")]},
    )
    assert response.status_code == 302
    assert writable_while_checked == [True]
    assert len(db.session.scalars(select(CampaignUpdate)).one().photos) == 1


def test_no_lock_is_held_while_an_api_upload_decodes(app, family, writable_while_checked):
    campaign = CampaignFactory(applicant=family)
    db.session.commit()
    response = api_upload(api_client(app, family), campaign.id, [("photo", png_bytes(), "a.png")])
    assert response.status_code == 201
    assert writable_while_checked == [True]


def test_a_read_only_transaction_is_released_and_one_with_writes_is_kept(app, family):
    db.session.commit()
    assert db.session.get(User, family.id) is not None  # a read opens a transaction
    assert db.session().in_transaction()
    assert release_read_transaction()
    assert not db.session().in_transaction()
    assert family.name  # loads again

    family.name = "Changed"  # pending, not flushed
    assert not release_read_transaction()
    db.session.flush()  # flushed, not committed
    assert not release_read_transaction()
    assert db.session().in_transaction()
    db.session.rollback()

    db.session.execute(update(User).where(User.id == family.id).values(name="Bulk"))
    assert not release_read_transaction()
    db.session.rollback()
    assert db.session.get(User, family.id).name != "Bulk"
    assert release_read_transaction()
    assert not db.session().in_transaction()


def test_two_uploads_at_once_cannot_take_a_campaign_over_its_limit(app, monkeypatch):
    """Each upload alone fits; together they do not. Both are checked before decoding, then meet after it and
    store at the same moment: the campaign lock (row lock on PostgreSQL, the write lock on SQLite) lets the
    second see the first's photos, so exactly one is stored."""
    campaign = CampaignFactory()
    campaign_id, applicant_id = campaign.id, campaign.applicant_id
    db.session.commit()  # and read nothing more here until the threads end: on SQLite a read takes the lock
    together = threading.Barrier(2, timeout=30)
    prepare = documents.prepare

    def prepare_then_meet(files: Any) -> Any:
        prepared = prepare(files)
        together.wait()
        return prepared

    monkeypatch.setattr(documents, "prepare", prepare_then_meet)
    outcomes: list[Any] = []

    def add_seven_photos() -> None:
        with app.app_context():
            try:
                campaign = db.session.get(Campaign, campaign_id)
                applicant = db.session.get(User, applicant_id)
                files = [("photo", Upload(f"p{n}.png", png_bytes())) for n in range(7)]
                outcomes.append(len(documents.attach(campaign, applicant, files)))
            except ValidationFailed as error:
                outcomes.append(error.fields)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=add_seven_photos) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [7, {"photo": ["A campaign can have at most 12 photos (it has 7)."]}]
    db.session.expire_all()
    assert len(db.session.get(Campaign, campaign_id).photos) == 7
