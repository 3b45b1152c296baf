"""Security headers on every response, no caching of anything shown to a signed-in caller, and the trusted
reverse proxies whose forwarded headers say who the visitor is."""

from __future__ import annotations

from flask import Flask, Response, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

# Pages use only our own scripts, styles and images; inline styles are allowed for progress bars.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def trusted_proxy_count(app: Flask) -> int:
    """TRUSTED_PROXY_COUNT as a number (it may come from the environment as text)."""
    value = app.config.get("TRUSTED_PROXY_COUNT") or 0
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count < 0:
        raise ValueError(f"TRUSTED_PROXY_COUNT must be a whole number, 0 or more (got {value!r})")
    return count


def init_app(app: Flask) -> None:
    proxies = trusted_proxy_count(app)
    if proxies:
        # Only the last `proxies` entries of X-Forwarded-* were written by our own proxies; anything before
        # them came from the visitor and is ignored. Without a trusted proxy the headers are never read, so a
        # visitor cannot pick the address the sign-in limit counts them under.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented way to wrap its WSGI app
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # What a signed-in caller sees (their campaigns, a new API token, a review page) must not be kept by
        # the browser's cache or any proxy. A response that chose its own caching keeps it (a public photo,
        # a static file).
        if "Cache-Control" not in response.headers and _private(app, response):
            response.headers["Cache-Control"] = "no-store"
            response.headers.setdefault("Pragma", "no-cache")
        return response


def _private(app: Flask, response: Response) -> bool:
    """Whether the response belongs to one signed-in caller: one signed in by session or bearer token, one
    whose request names a sign-in (a session, a remember-me cookie, a token) that was not looked at, or one
    given or relieved of a sign-in cookie (signing in, signing out)."""
    remember_cookie = app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if any(value.startswith(f"{remember_cookie}=") for value in response.headers.getlist("Set-Cookie")):
        return True
    user = g.get("_login_user")  # where Flask-Login keeps the caller once something asked who it is
    if user is not None:
        return bool(user.is_authenticated)
    # Not loaded by the view: judged without a database query (this may run after a failed transaction).
    return "_user_id" in session or remember_cookie in request.cookies or "Authorization" in request.headers
