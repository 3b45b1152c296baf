"""What operators watch: GET /metrics (who may read it, the request timer, the webhook counter, the database
gauges agreeing with `flask jobs status`), and the request id from a request into the logs of its jobs."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs.outbox import run_message
from fundraise.metrics import REGISTRY, webhook_outcome
from fundraise.models import OutboxMessage, Role
from fundraise.models.columns import utcnow
from fundraise.payments import get_provider
from fundraise.request_log import JsonLines, ReadableLines, current_request_id, job_context
from fundraise.services import donations as service
from tests.factories import CampaignFactory, user_of_role

TOKEN = "scrape-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"METRICS_TOKEN": TOKEN}


def scrape(client: FlaskClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """GET /metrics with the token: {sample name: {sorted labels: value}}."""
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- who may read it -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, *[r.value for r in Role if r != Role.ADMIN]], ids=str)
def test_metrics_is_a_404_for_everyone_but_operators(
    client: FlaskClient, login: Any, role: str | None
) -> None:
    if role is not None:
        login(user_of_role(role))
        db.session.commit()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 404


def test_an_admin_and_the_bearer_token_read_the_metrics(app: Flask, client: FlaskClient, login: Any) -> None:
    assert app.test_client().get("/metrics", headers=BEARER).status_code == 200
    login(user_of_role("admin"))
    db.session.commit()
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "aidbridge_outbox_messages" in response.get_data(as_text=True)
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.mimetype == "application/openmetrics-text"
    assert openmetrics.get_data(as_text=True).endswith("# EOF\n")


@pytest.mark.parametrize("app_settings", [{"METRICS_TOKEN": None}, {"METRICS_TOKEN": ""}])
def test_without_a_token_set_no_bearer_opens_it(client: FlaskClient) -> None:
    for header in ("Bearer ", "Bearer None", f"Bearer {TOKEN}"):
        assert client.get("/metrics", headers={"Authorization": header}).status_code == 404


# --- the request timer -----------------------------------------------------------------------------------


def test_request_times_are_labelled_by_url_rule_not_path(app: Flask, client: FlaskClient) -> None:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    for _ in range(3):
        assert client.get(f"/campaigns/{campaign.id}").status_code == 200
    assert client.get("/no/such/page/42").status_code == 404
    client.open("/healthz", method="BREW")

    buckets = scrape(client)["aidbridge_request_seconds_count"]
    routes = {dict(labels)["route"] for labels in buckets}
    assert "/campaigns/<int:campaign_id>" in routes
    assert "unmatched" in routes
    assert routes <= {rule.rule for rule in app.url_map.iter_rules()} | {"unmatched"}  # never a raw path
    assert buckets[(("method", "GET"), ("route", "/campaigns/<int:campaign_id>"), ("status", "2xx"))] >= 3
    assert buckets[(("method", "GET"), ("route", "unmatched"), ("status", "4xx"))] >= 1
    methods = {dict(labels)["method"] for labels in buckets}  # the whole run's requests, not only these
    assert "other" in methods
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


# --- the database gauges and `flask jobs status` ---------------------------------------------------------


def test_the_gauges_say_what_jobs_status_prints(client: FlaskClient, runner: Any) -> None:
    an_hour_ago = utcnow() - timedelta(hours=1)
    for status, count in (("pending", 2), ("enqueued", 1), ("done", 3), ("failed", 2)):
        for _ in range(count):
            db.session.add(
                OutboxMessage(
                    job="send_receipt",
                    args={"donation_id": 0},
                    status=status,
                    created_at=an_hour_ago,
                    last_error="printer on fire" if status == "failed" else "",
                )
            )
    db.session.commit()

    output = runner.invoke(args=["jobs", "status"]).output
    gauges = scrape(client)

    printed = dict(re.findall(r"(pending|enqueued|done|failed)=(\d+)", output.splitlines()[0]))
    assert printed == {"pending": "2", "enqueued": "1", "done": "3", "failed": "2"}
    assert {
        dict(labels)["status"]: int(value) for labels, value in gauges["aidbridge_outbox_messages"].items()
    } == {status: int(count) for status, count in printed.items()}
    assert f"failed jobs: {int(gauges['aidbridge_jobs_failed'][()])}" in output
    assert gauges["aidbridge_jobs_failed"][()] == 2
    unsealed = re.search(r"audit: unsealed=(\d+)", output)
    assert unsealed is not None
    assert int(unsealed.group(1)) == gauges["aidbridge_audit_unsealed_events"][()]
    # Written an hour ago and still waiting: both say so (the ages themselves are not compared).
    waiting = re.search(r"oldest waiting \(pending or enqueued\): (\d+)s", output)
    assert waiting is not None
    assert int(waiting.group(1)) >= 3600
    assert gauges["aidbridge_outbox_oldest_pending_seconds"][()] >= 3600
    assert "printer on fire" in output


def test_with_nothing_waiting_the_ages_are_none_and_zero(client: FlaskClient, runner: Any) -> None:
    output = runner.invoke(args=["jobs", "status"]).output
    assert "oldest waiting (pending or enqueued): none" in output
    assert scrape(client)["aidbridge_outbox_oldest_pending_seconds"][()] == 0


# --- the webhook counter ---------------------------------------------------------------------------------


def _signed_payment_succeeded(amount_fen: int = 700) -> tuple[bytes, dict[str, str]]:
    campaign = CampaignFactory(state="fundraising")
    db.session.commit()
    donation, _url = service.start_donation(campaign, None, amount_fen)
    provider = get_provider()
    payment = provider.payment(donation.provider_payment_id)
    payment.status = "succeeded"
    return provider.signed(provider.event("payment.succeeded", payment))


def test_webhook_outcomes_are_counted(client: FlaskClient) -> None:
    body, headers = _signed_payment_succeeded()

    def outcome(name: str) -> float:
        return counted("aidbridge_webhook_events_total", provider="sandbox", outcome=name)

    before = {name: outcome(name) for name in ("applied", "duplicate", "rejected_signature")}
    assert client.post("/payments/webhooks/sandbox", data=body, headers=headers).json["result"] == "recorded"
    assert client.post("/payments/webhooks/sandbox", data=body, headers=headers).json["result"] == "duplicate"
    assert client.post("/payments/webhooks/sandbox", data=body + b" ", headers=headers).status_code == 400
    assert outcome("applied") == before["applied"] + 1
    assert outcome("duplicate") == before["duplicate"] + 1
    assert outcome("rejected_signature") == before["rejected_signature"] + 1
    assert (
        scrape(client)["aidbridge_webhook_events_total"][(("outcome", "applied"), ("provider", "sandbox"))]
        >= 1
    )


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("recorded", "applied"),
        ("dispute dp_1: funds withdrawn", "applied"),
        ("duplicate", "duplicate"),
        ("ignored: no donation for this payment", "ignored"),
        ("failed: the ledger refused", "failed"),
        ("refused: the provider reports 5 CNY, the donation is 7", "failed"),
    ],
)
def test_the_service_answer_names_the_outcome(result: str, expected: str) -> None:
    assert webhook_outcome(result) == expected


# --- the request id --------------------------------------------------------------------------------------


def test_the_request_id_comes_back(client: FlaskClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:1"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.42:1"
    made = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["X-Request-ID"] != made
    for unfit in ("two words", "x" * 65, "<script>", "-starts-with-a-dash"):
        replaced = client.get("/healthz", headers={"X-Request-ID": unfit}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced), unfit
    assert current_request_id() is None  # nothing after the request carries its id


@pytest.fixture
def fundraise_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """caplog at INFO, with the app's loggers listening again: building the test database ran the migrations,
    whose env.py calls logging.config.fileConfig, which disables every logger that existed by then."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("fundraise") and isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", False)
    caplog.set_level(logging.INFO)
    return caplog


def test_a_job_queued_by_a_request_logs_under_its_id(
    client: FlaskClient, fundraise_logs: pytest.LogCaptureFixture
) -> None:
    caplog = fundraise_logs
    body, headers = _signed_payment_succeeded()
    response = client.post(
        "/payments/webhooks/sandbox", data=body, headers={**headers, "X-Request-ID": "webhook-delivery-1"}
    )
    assert response.headers["X-Request-ID"] == "webhook-delivery-1"
    # The webhook queued the receipt; the outbox ran it after the request (inline) and kept the id.
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.job == "send_receipt"))
    assert message is not None
    assert message.status == "done"
    assert message.request_id == "webhook-delivery-1"
    job_records = [record for record in caplog.records if getattr(record, "job", None) == "send_receipt"]
    assert job_records, "the receipt job logged nothing"
    assert {(record.request_id, record.outbox_id) for record in job_records} == {  # type: ignore[attr-defined]
        ("webhook-delivery-1", message.id)
    }

    # A worker in another process runs it again later, outside any request: the same id, from the outbox.
    caplog.clear()
    assert current_request_id() is None
    message.status = "pending"
    db.session.commit()
    run_message(message.id, reraise=True)
    again = [record for record in caplog.records if getattr(record, "job", None) == "send_receipt"]
    assert again
    assert {record.request_id for record in again} == {"webhook-delivery-1"}  # type: ignore[attr-defined]


def test_log_lines_carry_the_context(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with job_context("req-1", "send_receipt", 17):
        logging.getLogger("fundraise.test").info("sent %s", "receipt AB1\nsecond line")
    logging.getLogger("fundraise.test").warning("outside")
    inside, outside = caplog.records[-2:]

    line = JsonLines().format(inside)
    assert "\n" not in line
    entry = json.loads(line)
    assert {key: entry[key] for key in ("level", "logger", "message", "request_id", "job", "outbox_id")} == {
        "level": "INFO",
        "logger": "fundraise.test",
        "message": "sent receipt AB1\nsecond line",
        "request_id": "req-1",
        "job": "send_receipt",
        "outbox_id": 17,
    }
    assert set(entry) == {"time", "level", "logger", "message", "request_id", "job", "outbox_id"}
    assert json.loads(JsonLines().format(outside))["request_id"] is None

    assert "[request=req-1 job=send_receipt#17]: sent receipt" in ReadableLines().format(inside)
    assert "fundraise.test: outside" in ReadableLines().format(outside)
