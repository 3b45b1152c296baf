"""Signed Stripe webhooks delivered over loopback to Aidbridge served by gunicorn: the harness shared by the
webhook reliability test (tests/reliability/test_webhook_reliability.py) and benchmarks/webhooks.py.

- Events are built in Stripe's shape and signed exactly as Stripe signs them: the header
  `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the endpoint secret>`,
  computed here with hmac (not with the SDK the server verifies with), afresh at each delivery attempt.
- Deliveries go out from a pool of sender threads, one connection per delivery (gunicorn's sync workers close
  every connection). A delivery is `full` (send, read the answer), `cut` (a raw socket sends the headers and
  half the body, then closes), `hangup` (the whole request, then close without reading the answer: the server
  may process it, the sender never learns) or `forged` (signed with the wrong secret).
- gunicorn is started on 127.0.0.1 on a free port and stopped with SIGTERM (SIGKILL to its process group if
  it does not stop); every wait is bounded.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_PATH = "/payments/webhooks/stripe"
WORKERS = 2
FORGED_SECRET = "whsec_not_the_endpoint_secret"


# --- events ----------------------------------------------------------------------------------------------


def stripe_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Stripe's `Stripe-Signature` header for this raw body."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event_body(event_id: str, event_type: str, obj: dict[str, Any]) -> bytes:
    payload = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(payload, indent=2).encode()  # Stripe sends pretty-printed JSON


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class PlannedDonation:
    """A stored donation and what its events will say happened to it."""

    donation_id: int
    campaign_id: int
    amount_fen: int
    payment_id: str
    fee_fen: int = 0
    refund_id: str | None = None
    refund_fen: int = 0


def intent(d: PlannedDonation, status: str = "succeeded", with_fee: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": d.payment_id,
        "object": "payment_intent",
        "amount": d.amount_fen,
        "amount_received": d.amount_fen if status == "succeeded" else 0,
        "currency": "cny",
        "status": status,
        "metadata": {"donation_id": str(d.donation_id), "campaign_id": str(d.campaign_id)},
        "latest_charge": f"ch_{d.payment_id[3:]}",
    }
    if status == "succeeded" and with_fee and d.fee_fen:
        # The charge and its balance transaction expanded, as when the endpoint asks Stripe to expand them.
        obj["latest_charge"] = {
            "id": f"ch_{d.payment_id[3:]}",
            "object": "charge",
            "balance_transaction": {"id": f"txn_{d.payment_id[3:]}", "fee": d.fee_fen, "currency": "cny"},
        }
    if status == "requires_payment_method":
        obj["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
    return obj


def succeeded_event(d: PlannedDonation) -> tuple[str, bytes]:
    event_id = new_event_id()
    return event_id, event_body(event_id, "payment_intent.succeeded", intent(d))


def processing_event(d: PlannedDonation) -> tuple[str, bytes]:
    event_id = new_event_id()
    return event_id, event_body(event_id, "payment_intent.processing", intent(d, "processing"))


def failed_event(d: PlannedDonation) -> tuple[str, bytes]:
    """A failed first attempt (the donor then paid with another card): must never undo the success."""
    event_id = new_event_id()
    return event_id, event_body(
        event_id, "payment_intent.payment_failed", intent(d, "requires_payment_method")
    )


def refund_event(d: PlannedDonation, status: str, event_type: str = "refund.updated") -> tuple[str, bytes]:
    assert d.refund_id is not None
    obj = {
        "id": d.refund_id,
        "object": "refund",
        "amount": d.refund_fen,
        "currency": "cny",
        "payment_intent": d.payment_id,
        "charge": f"ch_{d.payment_id[3:]}",
        "status": status,
        "metadata": {},
    }
    event_id = new_event_id()
    return event_id, event_body(event_id, event_type, obj)


def unknown_event() -> tuple[str, bytes]:
    event_id = new_event_id()
    customer = {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer", "email": None}
    return event_id, event_body(event_id, "customer.created", customer)


# --- the database side -----------------------------------------------------------------------------------


def seed_donations(
    count: int,
    campaigns: int,
    rng: random.Random,
    *,
    status: str = "pending",
    target_fen: int = 50_000_000,
) -> list[PlannedDonation]:
    """Fundraising campaigns and `count` donations waiting for the provider, committed. Inside an app context.

    The donations are what `start_donation` leaves once the PaymentIntent exists (its id stored), in state
    `status` (`pending`: a delayed method is processing). Created as rows, not through the Stripe API: what
    is under test is the webhook side.
    """
    from fundraise.extensions import db
    from fundraise.models import Donation
    from tests.factories import CampaignFactory

    campaign_ids = []
    for _ in range(campaigns):
        campaign = CampaignFactory(state="fundraising", target_fen=target_fen)
        campaign_ids.append(campaign.id)
    db.session.commit()
    rows = []
    for n in range(count):
        amount = rng.choice([rng.randrange(100, 20_000), rng.randrange(20_000, 500_001)])
        rows.append(
            Donation(
                campaign_id=campaign_ids[n % campaigns],
                display_name=f"捐助人{n}",
                anonymous=n % 7 == 0,
                amount_fen=amount,
                status=status,
                provider="stripe",
                provider_payment_id=f"pi_{uuid.uuid4().hex[:24]}",
                idempotency_key=f"donation-{uuid.uuid4().hex}",
            )
        )
    db.session.add_all(rows)
    db.session.commit()
    planned = [PlannedDonation(r.id, r.campaign_id, r.amount_fen, r.provider_payment_id) for r in rows]
    db.session.expunge_all()
    return planned


def plain_url(database_url: str) -> str:
    """The URL psycopg takes (no SQLAlchemy driver suffix)."""
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def wait_until_idle(database_url: str, *, quiet_seconds: float = 1.0, limit_seconds: float = 60) -> float:
    """Wait until no other session on the database is running a statement or holds a transaction open and
    the stored event count has not moved for `quiet_seconds`. Returns the seconds waited."""
    import psycopg

    started = time.monotonic()
    deadline = started + limit_seconds
    last_count, quiet_since = -1, time.monotonic()
    with psycopg.connect(plain_url(database_url), autocommit=True) as connection:
        while True:
            busy = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
            ).fetchone()[0]  # type: ignore[index]
            count = connection.execute("SELECT count(*) FROM payment_events").fetchone()[0]  # type: ignore[index]
            now = time.monotonic()
            if busy or count != last_count:
                last_count, quiet_since = count, now
            elif now - quiet_since >= quiet_seconds:
                return now - started
            if now > deadline:
                raise TimeoutError(
                    f"the server was still busy after {limit_seconds}s ({busy} active sessions)"
                )
            time.sleep(0.1)


# --- the server ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(
    database_url: str, webhook_secret: str, secret_key: str, pii_key: str, upload_dir: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TEST_DATABASE_URL", "FLASK_APP")}
    env.update(
        {
            "AIDBRIDGE_ENV": "development",
            "FLASK_APP": "wsgi:app",
            "DATABASE_URL": plain_url(database_url),
            "SECRET_KEY": secret_key,
            "PII_KEY": pii_key,
            "UPLOAD_DIR": str(upload_dir),
            "PAYMENTS_PROVIDER": "stripe",
            # Never called: webhooks need only the endpoint secret; nothing here talks to Stripe's API.
            "STRIPE_SECRET_KEY": "sk_test_unused_by_webhooks",
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _http_status(port: int, path: str, timeout: float) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def start_gunicorn(
    env: dict[str, str], port: int, log: Path, *, workers: int = WORKERS
) -> subprocess.Popen[bytes]:
    """gunicorn with `workers` sync workers on 127.0.0.1:port, once /healthz answers 200 (at most 60s)."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--error-logfile",
        str(log),
        "--capture-output",  # the app's own log (and any traceback) goes to the same file
        "--graceful-timeout",
        "20",
        "wsgi:app",
    ]
    server = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, start_new_session=True, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log_tail(log)}")
        try:
            status = _http_status(port, "/healthz", timeout=2)
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            return server
        stop_gunicorn(server)
        raise RuntimeError(f"gunicorn answers /healthz with HTTP {status}")
    stop_gunicorn(server)
    raise RuntimeError(f"gunicorn did not answer within 60s:\n{log_tail(log)}")


def stop_gunicorn(server: subprocess.Popen[bytes]) -> None:
    """Graceful stop (workers finish the request in hand), then the process group is killed if need be."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- delivering ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    event_id: str
    body: bytes
    mode: str = "full"  # full | cut | hangup | forged


@dataclass
class Outcome:
    delivery: Delivery
    status: int | None = None  # None: no answer (cut and hangup on purpose, or a transport error)
    result: str | None = None  # what the endpoint said processing did ("recorded", "duplicate", ...)
    seconds: float = 0.0
    error: str = ""  # a transport error, or an exception in the sender
    body: bytes = b""


def _raw_request(port: int, delivery: Delivery, header: str) -> bytes:
    return (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Stripe-Signature: {header}\r\n"
        f"Content-Length: {len(delivery.body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def deliver(port: int, delivery: Delivery, secret: str, timeout: float = 30) -> Outcome:
    started = time.monotonic()
    header = stripe_signature(FORGED_SECRET if delivery.mode == "forged" else secret, delivery.body)
    outcome = Outcome(delivery)
    try:
        if delivery.mode in ("cut", "hangup"):
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
                body = (
                    delivery.body if delivery.mode == "hangup" else delivery.body[: len(delivery.body) // 2]
                )
                raw.sendall(_raw_request(port, delivery, header) + body)
            outcome.seconds = time.monotonic() - started
            return outcome
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request(
                "POST",
                WEBHOOK_PATH,
                body=delivery.body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": header,
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
            response = connection.getresponse()
            outcome.body = response.read()
            outcome.status = response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as error:
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.seconds = time.monotonic() - started
    if outcome.status == 200:
        try:
            outcome.result = str(json.loads(outcome.body).get("result"))
        except ValueError:
            outcome.error = "the 200 answer is not JSON"
    return outcome


@dataclass
class Run:
    outcomes: list[Outcome]
    seconds: float
    senders: int
    stragglers: int = 0  # deliveries without an outcome (the deadline passed, or the sender raised)
    errors: list[str] = field(default_factory=list)


def send_all(
    port: int,
    deliveries: Sequence[Delivery],
    secret: str,
    *,
    senders: int = 8,
    timeout: float = 30,
    limit_seconds: float = 600,
) -> Run:
    """Deliver everything, in the given order, from `senders` threads; bounded by `limit_seconds`."""
    lock = threading.Lock()
    cursor = iter(range(len(deliveries)))
    outcomes: list[Outcome | None] = [None] * len(deliveries)
    deadline = time.monotonic() + limit_seconds
    errors: list[str] = []

    def sender() -> None:
        while time.monotonic() < deadline:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            try:
                outcomes[index] = deliver(port, deliveries[index], secret, timeout)
            except Exception as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")

    started = time.monotonic()
    threads = [threading.Thread(target=sender, name=f"sender-{n}", daemon=True) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + timeout + 5)
    seconds = time.monotonic() - started
    if any(thread.is_alive() for thread in threads):
        errors.append("a sender was still running after the deadline")
    done = [o for o in outcomes if o is not None]
    return Run(done, seconds, senders, len(deliveries) - len(done), errors)


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]
