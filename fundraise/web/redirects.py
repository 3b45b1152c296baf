"""Where a page may send the browser next: only to a path on this site, never to another host.

Every `next` (a query parameter after sign-in, a hidden form field after an action) and every return address
goes through `safe_target`, so no page can be made into an open redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def safe_target(target: str | None, default: str) -> str:
    """`target` if it is a path on this site (`/staff/...`, or an absolute URL to this very host), else
    `default`. Refused: other hosts, scheme-relative `//host`, backslashes (browsers read `/\\host` as
    `//host`), control characters, and schemes such as `javascript:`."""
    target = (target or "").strip()
    if not target or any(ord(ch) < 32 or ch == "\\" for ch in target):
        return default
    if target.startswith(request.host_url):
        target = "/" + target.removeprefix(request.host_url)
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc:
        return target
    return default


def next_from_request(default: str) -> str:
    """The request's `next` (form field first, then query parameter), if it is safe; else `default`."""
    return safe_target(request.form.get("next") or request.args.get("next"), default)
