from tests.factories import CampaignFactory


def test_home_page(client):
    assert client.get("/").status_code == 200


def test_register_and_file(client, app):
    response = client.post(
        "/register",
        data={
            "role": "family",
            "name": "张丽",
            "email": "zhangli@example.cn",
            "password": "a long password",
            "confirm": "a long password",
            "accept_truth": "y",
        },
    )
    assert response.status_code == 302


def test_factory(app, login, client):
    c = CampaignFactory(with_evidence=True)
    from fundraise.extensions import db

    db.session.commit()
    assert len(c.documents) == 3
    login(c.applicant)
    from fundraise.services.transitions import transition

    transition(c, "submit", actor=c.applicant)
    assert c.state == "submitted"
    from fundraise.jobs.outbox import relay

    relay()
    assert c.state == "needs_review"
