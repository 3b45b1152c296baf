"""Helpers shared by the giving tests (test_donate.py, test_refunds.py, test_receipts.py): pages in English,
a campaign taking gifts, giving through the form and the sandbox checkout, paying directly."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    Donation,
)
from fundraise.payments import get_provider
from fundraise.payments.links import donation_token
from fundraise.services import donations as service
from tests.factories import PASSWORD, CampaignFactory

CHECKOUT = re.compile(r"^/sandbox/checkout/(sbpi_[0-9a-f]+)$")


# --- helpers ---------------------------------------------------------------------------------------------


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def messages(response: Any) -> list[str]:
    """The error messages a page shows (field errors and error flashes)."""
    return re.findall(r'class="(?:error|flash flash-error)"[^>]*>([^<]*)<', text(response))


def fundraising(**fields: Any) -> Campaign:
    fields.setdefault("target_fen", 1_000_000)
    made = CampaignFactory(state=fields.pop("state", "fundraising"), **fields)
    db.session.commit()
    return made


def english(client: FlaskClient) -> FlaskClient:
    """Pages in English (the source strings), whatever the catalogues hold."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return english(app.test_client())


def signed_in(app: Flask, user: Any) -> FlaskClient:
    db.session.commit()
    client = english(app.test_client())
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    return client


def donation_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Donation)) or 0


def give_form(**changes: Any) -> dict[str, Any]:
    form = {
        "preset": "5000",
        "custom_amount": "",
        "display_name": "张三",
        "message": "早日康复",
        "surplus_choice": "refund",
        "email": "zhang.san@example.cn",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def give(client: FlaskClient, campaign: Campaign, **changes: Any) -> Any:
    return client.post(f"/campaigns/{campaign.id}/donate", data=give_form(**changes))


def give_and_pay(client: FlaskClient, campaign: Campaign, action: str = "pay", **changes: Any) -> Donation:
    """Through the pages: the form, the sandbox checkout, pay (or decline); returns the donation."""
    started = give(client, campaign, **changes)
    assert started.status_code == 303, messages(started)
    checkout = path(started.headers["Location"])
    assert CHECKOUT.match(checkout), checkout
    assert client.get(checkout).status_code == 200
    done = client.post(checkout, data={"action": action})
    assert done.status_code == 302
    donation = db.session.scalar(select(Donation).order_by(Donation.id.desc()))
    assert donation is not None
    db.session.refresh(donation)
    assert path(done.headers["Location"]) == f"/donations/{donation.id}?t={donation_token(donation.id)}"
    return donation


def pay_directly(campaign: Campaign, amount_fen: int, **fields: Any) -> Donation:
    donation, _url = service.start_donation(campaign, None, amount_fen, **fields)
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    db.session.refresh(donation)
    return donation


def format_fen(fen: int) -> str:
    from fundraise.money import format_yuan

    return format_yuan(fen)
