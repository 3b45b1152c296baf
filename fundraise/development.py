"""The development environment is for one person's machine: it says so at start and serves loopback only.

Its SECRET_KEY and PII_KEY are committed to the repository, so anyone could forge its session cookies (an
admin's, say) and its sandbox webhooks. Served beyond loopback it would be a public site anyone can take over;
so every request from another address, or naming another host, is refused with a page that says why and how
to run Aidbridge for real (AIDBRIDGE_ENV=production).
"""

from __future__ import annotations

import ipaddress
import logging
import sys

from flask import Flask, Response, request
from flask_babel import gettext as _

log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
BANNER = (
    "Aidbridge is running in DEVELOPMENT mode: keys committed to the repository, sandbox payments, "
    "loopback only (127.0.0.1, ::1). For a real deployment set AIDBRIDGE_ENV=production "
    "(README, 'Running in production')."
)


def is_loopback_address(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """Whether a Host header (name and optional port) names this machine."""
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:5000
        name = name[: name.find("]") + 1] if "]" in name else name
    elif name.count(":") == 1:  # 127.0.0.1:5000, localhost:5000
        name = name.rsplit(":", 1)[0]
    return name in LOOPBACK_NAMES or is_loopback_address(name.strip("[]"))


def init_app(app: Flask) -> None:
    """Wire the guard and print the banner when the app runs in the development environment."""
    if app.config.get("ENV_NAME") != "development":
        return
    print(f"WARNING: {BANNER}", file=sys.stderr)  # said where the person starting it looks

    @app.before_request
    def _loopback_only() -> Response | None:
        if is_loopback_address(request.remote_addr) and is_loopback_host(request.host):
            return None
        log.warning("development mode: refused a request from %s for %s", request.remote_addr, request.host)
        message = _(
            "This Aidbridge runs in development mode, which serves only this machine (127.0.0.1). For a "
            "real deployment set AIDBRIDGE_ENV=production with its own secrets (README, 'Running in "
            "production')."
        )
        return Response(message, 403, mimetype="text/plain")
