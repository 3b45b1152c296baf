"""The unguessable part of a donation's own pages (/donate/<id>/pay, /donate/<id>/status, the thank-you page
with the receipt): ids are sequential, and those pages show the donor's name and message."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def donation_token(donation_id: int) -> str:
    """A keyed digest of the donation's id (from SECRET_KEY): the `t` of its pages' links."""
    key = str(current_app.config.get("SECRET_KEY") or "").encode()
    return hmac.new(key, f"donation-page:{donation_id}".encode(), hashlib.sha256).hexdigest()[:32]
