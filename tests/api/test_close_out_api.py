"""API v1 for closing a campaign out: after a payment through the API, the family sends the final bill, the
custodian staff settle what is left (the relief-pool donor's part moves to the pool, the others are refunded),
and the state says so; refusals are problem documents. Answers conform to the OpenAPI document."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Flask

from fundraise import ledger
from fundraise.extensions import db
from fundraise.models import SurplusChoice
from fundraise.payments import get_provider
from fundraise.services import disbursements
from fundraise.services import donations as donation_service
from fundraise.services.disbursement_invariants import check_disbursements
from tests.api.helpers import PDF_BYTES, assert_problem
from tests.api.test_disbursements_api import end_notice
from tests.disbursements.world import world

Api = Callable[..., Any]


def test_close_out_and_settlement_through_the_api(
    app: Flask, api: Api, token_for: Callable[[Any], str]
) -> None:
    w = world(app, gifts=(100_000,))
    late, _url = donation_service.start_donation(
        w.campaign, None, 20_000, surplus_choice=SurplusChoice.RELIEF_POOL, receipt_email="p@example.cn"
    )
    get_provider().pay(late.provider_payment_id)
    db.session.commit()
    d = w.request(90_000)
    end_notice(d.id)
    disbursements.approve(d.id, w.approver)
    disbursements.record_payment(d.id, w.finance, "HX-API-CLOSE-1")
    family, custodian = token_for(w.family), token_for(w.approver)
    db.session.commit()

    early = api("POST", f"/campaigns/{w.campaign.id}/close-out/settle", token=custodian)
    assert_problem(early, 409)
    state = api("GET", f"/campaigns/{w.campaign.id}/close-out", token=family).get_json()
    assert state["ended_code"] is None
    assert state["pool_fen"] > 0
    assert state["refund_fen"] > 0

    missing = api(
        "POST",
        f"/campaigns/{w.campaign.id}/close-out",
        token=family,
        data={},
        content_type="multipart/form-data",
    )
    assert_problem(missing, 422)
    sent = api(
        "POST",
        f"/campaigns/{w.campaign.id}/close-out",
        token=family,
        data={"note": "已出院", "bill": (io.BytesIO(PDF_BYTES), "出院结算单.pdf")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["ended_code"] == "close_out_requested"

    settled = api("POST", f"/campaigns/{w.campaign.id}/close-out/settle", token=custodian)
    assert settled.status_code == 200, settled.get_json()
    body = settled.get_json()
    assert [pair[0] for pair in body["moved_to_pool"]] == [late.id]
    assert len(body["refunds_asked"]) == 1
    assert body["state"]["ended_code"] == "closed_out"
    assert body["state"]["held_fen"] == 0
    assert ledger.verify()[1] == []
    assert check_disbursements()[1] == []
