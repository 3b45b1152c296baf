"""Issue 13: every look at a recipient's private data is logged and listed by role and organisation (never by
e-mail); the audit-log viewer and its API filter the log, page it by event id, show the chain's health, and keep
an officer to their own jurisdiction."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from fundraise import audit
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, CampaignState, Document, User
from fundraise.services import access_log, audit_chain, audit_events
from fundraise.services.filing import reveal_id_number
from tests.factories import PASSWORD, CampaignFactory, DocumentFactory, UserFactory

FUYANG = "341200"  # holds Linquan county (341221), the factory campaign's region
HEFEI = "340100"


def client_for(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def opened(client: FlaskClient, document: Document) -> int:
    """Open a document as this client; the response's status (the file is closed again)."""
    response = client.get(f"/documents/{document.id}")
    response.close()
    return int(response.status_code)


def stored(app: Flask, document: Document) -> Document:
    """The document's file on disk, so /documents/<id> can serve it."""
    folder = Path(app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / document.stored_name).write_bytes(b"%PDF-1.4\n%%EOF\n")
    return document


def case(app: Flask, region_code: str = "341221") -> tuple[Campaign, Document, Document]:
    campaign = CampaignFactory(state=CampaignState.FUNDRAISING, patient_region_code=region_code)
    evidence = stored(app, DocumentFactory(campaign=campaign, kind="diagnosis"))
    photo = stored(
        app,
        DocumentFactory(
            campaign=campaign, kind="photo", content_type="image/png", stored_name=f"p-{region_code}.png"
        ),
    )
    db.session.commit()
    return campaign, evidence, photo


def people() -> dict[str, User]:
    found = {
        "staff": UserFactory(charity_staff=True),
        "officer": UserFactory(officer=True, jurisdiction_code=FUYANG),
        "other_officer": UserFactory(officer=True, jurisdiction_code=HEFEI),
        "admin": UserFactory(admin=True),
        "donor": UserFactory(donor=True),
    }
    db.session.commit()
    return found


def events_of(campaign: Campaign, action: str) -> list[AuditEvent]:
    return [event for event in audit.history("campaign", campaign.id) if event.action == action]


# ---- access logging


def test_private_document_views_are_logged_and_listed_by_role_and_organisation(app: Flask) -> None:
    campaign, evidence, photo = case(app)
    who = people()
    staff, officer = client_for(app, who["staff"]), client_for(app, who["officer"])
    assert opened(staff, evidence) == 200
    assert opened(staff, photo) == 200  # a public photo: not logged
    assert opened(officer, evidence) == 200
    reveal_id_number(db.session.get(Campaign, campaign.id), who["admin"])

    logged = events_of(campaign, "document.view")
    assert [(event.actor_id, event.after) for event in logged] == [
        (who["staff"].id, {"document_id": evidence.id, "kind": "diagnosis"}),
        (who["officer"].id, {"document_id": evidence.id, "kind": "diagnosis"}),
    ]

    views = access_log.views_of(campaign.id, locale="en")
    assert [(view.what, view.actor.role) for view in views] == [
        ("id_number", "admin"),
        ("document", "civil_affairs_officer"),
        ("document", "charity_staff"),
    ]
    assert views[1].actor.organisation_kind == "jurisdiction"
    assert views[1].actor.organisation
    charity = who["staff"].charity
    assert charity is not None
    assert views[2].actor.organisation == charity.name_en
    assert (views[2].document_id, views[2].document_kind) == (evidence.id, "diagnosis")

    page = officer.get(f"/staff/recipients/{campaign.id}/views")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert charity.name_en in html
    assert "Civil-affairs officer" in html
    assert "Diagnosis certificate" in html
    assert "Full ID number" in html
    for role, person in who.items():
        if role != "officer":  # the page's header names whoever is signed in
            assert person.email not in html


def test_the_family_viewing_its_own_evidence_is_logged_too(app: Flask) -> None:
    campaign, evidence, _photo = case(app)
    family = client_for(app, campaign.applicant)
    assert opened(family, evidence) == 200
    assert [view.actor.role for view in access_log.views_of(campaign.id)] == ["family"]


def test_a_refused_document_view_logs_nothing(app: Flask) -> None:
    campaign, evidence, _photo = case(app)
    who = people()
    assert opened(client_for(app, who["other_officer"]), evidence) == 404
    assert opened(client_for(app, who["donor"]), evidence) == 404
    assert access_log.views_of(campaign.id) == []


def test_finances_views_by_reviewers_and_officers_are_logged_once_per_page_view(app: Flask) -> None:
    campaign, _evidence, _photo = case(app)
    who = people()
    assert client_for(app, who["staff"]).get(f"/staff/reviews/{campaign.id}").status_code == 200
    assert client_for(app, who["officer"]).get(f"/campaigns/{campaign.id}").status_code == 200
    # The family's own look and a donor's (who sees no finances) are not logged.
    assert client_for(app, campaign.applicant).get(f"/campaigns/{campaign.id}").status_code == 200
    assert client_for(app, who["donor"]).get(f"/campaigns/{campaign.id}").status_code == 200
    logged = events_of(campaign, "campaign.view_finances")
    assert [event.actor_id for event in logged] == [who["staff"].id, who["officer"].id]
    assert [view.what for view in access_log.views_of(campaign.id)] == ["finances", "finances"]


def test_the_views_page_is_closed_to_other_regions_and_roles(app: Flask) -> None:
    campaign, _evidence, _photo = case(app)
    who = people()
    url = f"/staff/recipients/{campaign.id}/views"
    assert client_for(app, who["other_officer"]).get(url).status_code == 404
    assert client_for(app, who["admin"]).get(url).status_code == 200
    assert client_for(app, who["staff"]).get("/staff/recipients/999999/views").status_code == 404
    assert client_for(app, who["donor"]).get(url).status_code == 403
    assert client_for(app, campaign.applicant).get(url).status_code == 403


def test_views_of_is_capped_and_pages_by_event_id(app: Flask) -> None:
    campaign, evidence, _photo = case(app)
    staff = UserFactory(charity_staff=True)
    db.session.commit()
    for _ in range(5):
        access_log.record_document_view(db.session.get(Document, evidence.id), staff)
    first = access_log.views_of(campaign.id, limit=3)
    rest = access_log.views_of(campaign.id, before=first[-1].id, limit=3)
    assert len(first) == 3
    assert len(rest) == 2
    assert [view.id for view in first + rest] == sorted((view.id for view in first + rest), reverse=True)


# ---- the audit-log viewer


def test_officers_see_only_their_jurisdiction_in_the_viewer_and_the_api(app: Flask) -> None:
    mine, my_evidence, _photo = case(app)
    theirs, their_evidence, _photo2 = case(app, region_code="340102")  # Hefei
    who = people()
    staff = client_for(app, who["staff"])
    opened(staff, my_evidence)
    opened(staff, their_evidence)

    officer = client_for(app, who["officer"])
    page = officer.get("/staff/audit?object_type=campaign")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Campaign #{mine.id}<" in html
    assert f"Campaign #{theirs.id}<" not in html
    body = officer.get("/api/v1/audit/events?limit=200").get_json()
    campaigns = {e["object_id"] for e in body["events"] if e["object_type"] == "campaign"}
    assert str(mine.id) in campaigns
    assert str(theirs.id) not in campaigns
    # Asking for the other campaign by name finds nothing either.
    asked = officer.get(f"/api/v1/audit/events?object_type=campaign&object_id={theirs.id}").get_json()
    assert asked["events"] == []

    hefei = client_for(app, who["other_officer"])
    body = hefei.get("/api/v1/audit/events?object_type=campaign&limit=200").get_json()
    assert {e["object_id"] for e in body["events"]} == {str(theirs.id)}
    assert all(e["actor"]["organisation"] != who["staff"].email for e in body["events"])

    # Staff see both.
    body = staff.get("/api/v1/audit/events?object_type=campaign&limit=200").get_json()
    assert {str(mine.id), str(theirs.id)} <= {e["object_id"] for e in body["events"]}


def test_families_and_donors_may_not_read_the_log(app: Flask) -> None:
    campaign, _evidence, _photo = case(app)
    who = people()
    for user in (campaign.applicant, who["donor"]):
        client = client_for(app, user)
        assert client.get("/staff/audit").status_code == 403
        assert client.get("/api/v1/audit/events").status_code == 403


def test_filters_by_object_actor_action_and_date(app: Flask) -> None:
    campaign, evidence, _photo = case(app)
    who = people()
    opened(client_for(app, who["staff"]), evidence)
    opened(client_for(app, who["officer"]), evidence)
    admin = client_for(app, who["admin"])

    def ids(query: str) -> list[tuple[str, int | None]]:
        response = admin.get(f"/api/v1/audit/events?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [(e["action"], e["actor"]["id"]) for e in response.get_json()["events"]]

    scoped = f"object_type=campaign&object_id={campaign.id}"
    assert ids(f"{scoped}&action=document.") == [
        ("document.view", who["officer"].id),
        ("document.view", who["staff"].id),
    ]
    assert ids(f"{scoped}&actor_role=charity_staff") == [("document.view", who["staff"].id)]
    assert ids(f"{scoped}&actor_id={who['officer'].id}") == [("document.view", who["officer"].id)]
    assert ids(f"{scoped}&action=campaign.reveal") == []
    today = date.today()
    assert (
        len(
            ids(
                f"{scoped}&action=document.&since={today - timedelta(days=1)}&until={today + timedelta(days=1)}"
            )
        )
        == 2
    )
    assert ids(f"{scoped}&since={today + timedelta(days=2)}") == []
    assert ids("actor_role=system&action=document.") == []

    # The page shows the action in words and the actor by role and organisation, no e-mail.
    html = admin.get(f"/staff/audit?{scoped}&action=document.").get_data(as_text=True)
    assert "Private document viewed" in html
    assert "Civil-affairs officer" in html
    assert who["staff"].email not in html
    assert who["officer"].email not in html

    refused = admin.get("/api/v1/audit/events?actor_role=nobody")
    assert refused.status_code == 422
    page = admin.get("/staff/audit?actor_role=nobody&since=2026-13-01")
    assert page.status_code == 200
    assert "Choose who acted from the list." in page.get_data(as_text=True)


def test_the_log_is_paged_by_event_id(app: Flask) -> None:
    for number in range(7):
        audit.record("test.event", "thing", number, actor=None)
    db.session.commit()
    admin = client_for(app, UserFactory(admin=True))
    db.session.commit()
    first = admin.get("/api/v1/audit/events?object_type=thing&limit=3").get_json()
    assert [e["object_id"] for e in first["events"]] == ["6", "5", "4"]
    second = admin.get(first["next"]).get_json()
    assert [e["object_id"] for e in second["events"]] == ["3", "2", "1"]
    third = admin.get(second["next"]).get_json()
    assert [e["object_id"] for e in third["events"]] == ["0"]
    assert third["next"] is None
    reader = db.session.scalars(select(User).where(User.role == "admin")).first()
    assert reader is not None
    page = audit_events.events(reader, audit_events.EventFilter(object_type="thing"), limit=3)
    assert page.next_before == int(first["events"][-1]["id"])


def test_the_viewer_shows_the_chain_status_and_catches_tampering(app: Flask) -> None:
    for number in range(4):
        audit.record("test.event", "thing", number, actor=None, after={"n": number})
    db.session.commit()
    status = audit_chain.recent_status()
    assert (status.state, status.first_seq, status.last_seq) == ("intact", 1, 4)
    assert status.checkpoint_matched
    staff = client_for(app, UserFactory(charity_staff=True))
    db.session.commit()
    html = staff.get("/staff/audit").get_data(as_text=True)
    assert "Intact" in html
    assert "Re-hashed events 1 to" in html

    third = db.session.scalar(select(AuditEvent.id).where(AuditEvent.seq == 3))
    db.session.execute(
        text("UPDATE audit_events SET after = :after WHERE id = :id"), {"after": '{"n": 9}', "id": third}
    )
    db.session.commit()
    status = audit_chain.recent_status()
    assert status.state == "broken"
    assert [(problem.kind, problem.seq) for problem in status.problems] == [("altered", 3)]
    html = staff.get("/staff/audit").get_data(as_text=True)
    assert "Broken" in html
    assert "Event 3 does not match its hash" in html


def test_a_bounded_check_reads_only_the_newest_events(app: Flask) -> None:
    for number in range(6):
        audit.record("test.event", "thing", number, actor=None)
    db.session.commit()
    db.session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    db.session.commit()
    recent = audit_chain.recent_status(window=3)
    assert (recent.state, recent.first_seq, recent.last_seq) == ("intact", 4, 6)
    whole = audit_chain.recent_status(window=10)
    assert whole.state == "broken"
    assert ("missing", 2) in [(p.kind, p.seq) for p in whole.problems]


def test_without_a_signing_key_the_chain_is_not_checked(app: Flask) -> None:
    app.config["AUDIT_SIGNING_KEY"] = None
    status = audit_chain.recent_status()
    assert (status.state, status.reason) == ("not_checked", "no_key")
