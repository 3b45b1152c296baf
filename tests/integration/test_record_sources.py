"""Record sources: the database source reads what imports wrote; the HTTP source speaks
fundraise/records/CONTRACT.md to a real local server and turns every failure into RecordSourceUnavailable.

No external service is needed: the server is http.server on 127.0.0.1 in a thread, on a free port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fundraise import pii
from fundraise.extensions import db
from fundraise.records.sources import DatabaseSource, HttpSource, RecordSourceUnavailable, configured_source
from fundraise.services.records_import import import_feed
from tests.factories import UserFactory
from verification.identity import make_resident_id
from verification.records import CivilAffairsStatus, Records

TOKEN = "s3cret-token"
NUMBER = make_resident_id("341221", date(1980, 1, 2), "M", 5)
OTHER = make_resident_id("341221", date(1981, 3, 4), "F", 6)


def enrolment(number: str = NUMBER, **changes: Any) -> dict[str, Any]:
    item = {
        "source_record_id": "YB-1",
        "id_number": number,
        "name": "王五",
        "scheme": "resident",
        "pooling_region_code": "341200",
        "valid_from": "2026-01-01",
        "valid_to": None,
        "year": 2026,
        "ytd_reimbursed_yuan": "12000.50",
    }
    item.update(changes)
    return item


def civil(number: str = NUMBER, source_id: str = "MZ-1", valid_from: str = "2025-07-01") -> dict[str, Any]:
    return {
        "source_record_id": source_id,
        "id_number": number,
        "name": "王五",
        "assistance_class": "dibao",
        "valid_from": valid_from,
        "valid_to": None,
        "household_size": 4,
        "monthly_household_income_yuan": 1650,
        "region_code": "341221",
    }


HAPPY = {
    "basic_enrolments": [enrolment()],
    "critical_illness": [
        {
            "source_record_id": "DB-1",
            "id_number": NUMBER,
            "name": "王五",
            "entitled": True,
            "pooling_region_code": "341200",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "ytd_paid_yuan": 0,
        }
    ],
    "civil_affairs": [civil(source_id="MZ-2", valid_from="2026-01-01"), civil()],
}

Responder = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


class RecordsServer:
    """A stand-in records service. `respond` decides each answer; `requests` keeps what arrived."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.respond: Responder = send_json(HAPPY)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                server.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if self.path != "/v1/person-records":
                    self.send_error(404)
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_error(401)
                    return
                server.respond(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def source(self, token: str = TOKEN, timeout: float = 2.0) -> HttpSource:
        return HttpSource(self.url, token, timeout=timeout)


def send_json(document: Any, status: int = 200) -> Responder:
    def respond(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        send_bytes(handler, status, json.dumps(document).encode())

    return respond


def send_bytes(handler: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


@pytest.fixture
def records_server() -> Iterator[RecordsServer]:
    server = RecordsServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    server.thread.join(timeout=5)


# --- HttpSource ------------------------------------------------------------------------------------------


def test_happy_path_reads_every_kind(records_server):
    # The live service is asked by number (normalised), not by blind index.
    records = records_server.source().records_for("index-unused", NUMBER.lower())

    assert records_server.requests == [
        {"path": "/v1/person-records", "auth": f"Bearer {TOKEN}", "body": {"id_number": NUMBER}}
    ]
    (basic,) = records.enrolments
    assert (basic.scheme, basic.pooling_region, basic.ytd_reimbursed_fen, basic.valid_to) == (
        "resident",
        "341200",
        1_200_050,
        None,
    )
    (entitlement,) = records.critical_illness
    assert (entitlement.source_record_id, entitlement.valid_to) == ("DB-1", date(2026, 12, 31))
    # Ordered by valid_from: the 2025 status comes first.
    assert [status.source_record_id for status in records.civil_affairs] == ["MZ-1", "MZ-2"]
    assert records.civil_affairs[0] == CivilAffairsStatus(
        person_name="王五",
        assistance_class="dibao",
        valid_from=date(2025, 7, 1),
        valid_to=None,
        household_size=4,
        monthly_household_income_fen=165_000,
        region_code="341221",
        source_record_id="MZ-1",
        ytd_assistance_fen=0,
    )


def test_a_critical_illness_record_without_entitlement_is_no_entitlement(records_server):
    not_entitled = {**HAPPY["critical_illness"][0], "entitled": False}
    records_server.respond = send_json({**HAPPY, "critical_illness": [not_entitled]})
    assert records_server.source().records_for("x", NUMBER).critical_illness == ()


def test_a_person_without_records_gets_empty_lists(records_server):
    records_server.respond = send_json({"basic_enrolments": [], "critical_illness": [], "civil_affairs": []})
    assert records_server.source().records_for("x", NUMBER) == Records()


def test_server_error_is_unavailable(records_server):
    records_server.respond = send_json({"error": "database down"}, status=500)
    with pytest.raises(RecordSourceUnavailable, match="HTTP 500"):
        records_server.source().records_for("x", NUMBER)


def test_timeout_is_unavailable(records_server):
    def slow(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        time.sleep(1.0)
        send_json(HAPPY)(handler, body)

    records_server.respond = slow
    started = time.monotonic()
    with pytest.raises(RecordSourceUnavailable, match="timed out"):
        records_server.source(timeout=0.2).records_for("x", NUMBER)
    assert time.monotonic() - started < 1.0


def test_wrong_token_is_unavailable(records_server):
    with pytest.raises(RecordSourceUnavailable, match="refused our token"):
        records_server.source(token="wrong").records_for("x", NUMBER)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"basic_enrolments": [', "malformed JSON"),
        (b"<html>maintenance</html>", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[]", "not a JSON object"),
        (b'{"basic_enrolments": [], "critical_illness": []}', "no list 'civil_affairs'"),
        (
            json.dumps({**HAPPY, "basic_enrolments": [enrolment(scheme="gold")]}).encode(),
            "scheme is not one of",
        ),
        (json.dumps({**HAPPY, "basic_enrolments": ["YB-1"]}).encode(), "item 1 is not an object"),
        (json.dumps({**HAPPY, "civil_affairs": [civil(OTHER)]}).encode(), "about another person"),
    ],
    ids=["truncated", "html", "not-utf8", "list", "missing-key", "bad-value", "not-object", "other-person"],
)
def test_malformed_answers_are_unavailable(records_server, payload, reason):
    records_server.respond = lambda handler, body: send_bytes(handler, 200, payload)
    with pytest.raises(RecordSourceUnavailable, match=reason) as raised:
        records_server.source().records_for("x", NUMBER)
    assert NUMBER not in str(raised.value)


def test_a_connection_refused_is_unavailable(records_server):
    url = records_server.url
    records_server.httpd.shutdown()
    records_server.httpd.server_close()
    with pytest.raises(RecordSourceUnavailable, match="unreachable"):
        HttpSource(url, TOKEN, timeout=1.0).records_for("x", NUMBER)


def test_redirects_are_not_followed(records_server):
    def redirect(handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        handler.send_response(307)
        handler.send_header("Location", "http://127.0.0.1:9/steal")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    records_server.respond = redirect
    with pytest.raises(RecordSourceUnavailable, match="HTTP 307"):
        records_server.source().records_for("x", NUMBER)
    assert len(records_server.requests) == 1


def test_plain_http_is_only_for_loopback():
    with pytest.raises(ValueError, match="https"):
        HttpSource("http://records.example.gov.cn", TOKEN)
    assert HttpSource("https://records.example.gov.cn/", TOKEN).url == (
        "https://records.example.gov.cn/v1/person-records"
    )


# --- DatabaseSource and the configured source ------------------------------------------------------------


def test_database_source_reads_imported_records(app):
    admin = UserFactory(admin=True)
    db.session.commit()
    for kind, key in (
        ("basic_enrolment", "basic_enrolments"),
        ("critical_illness", "critical_illness"),
        ("civil_affairs", "civil_affairs"),
    ):
        items = [*HAPPY[key], *([civil(OTHER, source_id="MZ-9")] if kind == "civil_affairs" else [])]
        assert import_feed(kind, json.dumps(items).encode(), "json", admin).accepted

    records = DatabaseSource().records_for(pii.blind_index(NUMBER), NUMBER)
    assert [e.source_record_id for e in records.civil_affairs] == ["MZ-1", "MZ-2"]
    assert records.enrolments[0].ytd_reimbursed_fen == 1_200_050
    assert [e.source_record_id for e in records.critical_illness] == ["DB-1"]
    assert (
        DatabaseSource().records_for(pii.blind_index(OTHER), OTHER).civil_affairs[0].source_record_id
        == "MZ-9"
    )
    assert DatabaseSource().records_for("nobody", NUMBER) == Records()


def test_configured_source_follows_the_settings(app, records_server):
    assert isinstance(configured_source(), DatabaseSource)
    app.config.update(RECORDS_SERVICE_URL=records_server.url, RECORDS_SERVICE_TOKEN=TOKEN)
    source = configured_source()
    assert isinstance(source, HttpSource)
    assert source.records_for("x", NUMBER).enrolments[0].source_record_id == "YB-1"
