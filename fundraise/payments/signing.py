"""Webhook signatures in Stripe's scheme: header `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

The sandbox signs its events this way so they go through the same verification path as Stripe's; the Stripe
adapter verifies with the Stripe SDK itself.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fundraise.payments.provider import InvalidSignature


def compute_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def verify(
    secret: bytes, body: bytes, header: str | None, tolerance_seconds: int, now: float | None = None
) -> None:
    """Raise InvalidSignature unless one v1 signature matches and the timestamp is within the tolerance."""
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("the timestamp is not a number") from None
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("the header has no timestamp or no v1 signature")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("no signature matches the body")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature("the timestamp is outside the tolerance window")
