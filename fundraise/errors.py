"""Domain errors and how they reach people: a page with a message, or a JSON problem document for the API."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import format_datetime, format_time, to_user_timezone
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from fundraise.extensions import limiter

log = logging.getLogger(__name__)

# How long a caller should wait when the database went away mid-request (a restart, a failover).
DATABASE_RETRY_SECONDS = 30


class ConfigurationError(RuntimeError):
    """The app was asked to start with settings it must not run with."""


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class ValidationFailed(DomainError):
    status = 422


class IllegalTransition(DomainError):
    """A state change that the campaign's current state does not allow."""

    status = 409


def wants_json() -> bool:
    # The API, and the payment providers' webhooks, which the rest of their answers give as JSON too.
    return request.path.startswith(("/api/", "/payments/webhooks/"))


def problem(status: int, title: str, detail: str = "", fields: dict[str, Any] | None = None) -> Response:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if fields:
        body["errors"] = fields
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Any:
        if wants_json():
            return problem(error.status, HTTPStatus(error.status).phrase, error.message, fields=error.fields)
        return render_template("errors/error.html", status=error.status, message=error.message), error.status

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Any:
        message = _(
            "This form has expired or was not sent from this site. Please go back, reload and try again."
        )
        if wants_json():
            return problem(400, HTTPStatus(400).phrase, message)
        return render_template("errors/error.html", status=400, message=message), 400

    @app.errorhandler(DBAPIError)
    def _database_gone(error: DBAPIError) -> Any:
        # The connection was lost (the database restarted or failed over): the request's transaction rolled
        # back whole, so nothing half-done stands, and the pool reconnects for the next request. Asking again
        # is the right answer; a payment provider retries a webhook by itself. Any other database error is
        # a bug and goes on to the 500 handler.
        if not error.connection_invalidated:
            raise error
        log.error(
            "the database connection was lost during %s %s", request.method, request.path, exc_info=error
        )
        message = _("The service is briefly unavailable. Nothing was saved; please try again in a minute.")
        if wants_json():
            response = problem(503, HTTPStatus(503).phrase, message)
        else:
            response = Response(
                render_template("errors/error.html", status=503, message=message), 503, mimetype="text/html"
            )
        response.headers["Retry-After"] = str(DATABASE_RETRY_SECONDS)
        return response

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        status = error.code or 500
        if status == 429:
            return _too_many(error)
        messages = {
            401: _("Please sign in."),
            403: _("You do not have permission to see this page."),
            404: _("We could not find that page."),
            405: _("That action is not allowed here."),
            413: _("The upload is too large."),
        }
        message = messages.get(status, error.description or error.name)
        if wants_json():
            return problem(status, error.name, message)
        return render_template("errors/error.html", status=status, message=message), status


# --- 429: when to try again ------------------------------------------------------------------------------


def retry_moment(moment: datetime) -> datetime:
    """`moment` rounded up to the whole minute: what a page may promise, since it shows minutes."""
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment


def try_again_at(moment: datetime) -> str:
    """A moment to try again, in the reader's language and time zone: the time alone when it is later today
    there, with the date otherwise."""
    local = to_user_timezone(moment)
    today = to_user_timezone(datetime.now(UTC)).date()
    return str(format_time(moment, "short") if local.date() == today else format_datetime(moment, "short"))


def retry_after_seconds(moment: datetime) -> int:
    """The Retry-After header's value for a moment (whole seconds from now, at least 1)."""
    return max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


def _limit_lifted_at(error: HTTPException) -> datetime | None:
    """When every limit this request broke allows it again, if known: the latest reset among the
    rate-limiter's breached limits (it evaluates them all, RATELIMIT_FAIL_ON_FIRST_BREACH = False), or the
    Retry-After that whoever raised the error gave."""
    if isinstance(error, RateLimitExceeded):
        resets = [limit.reset_at for limit in limiter.current_limits if limit.breached]
        if not resets and limiter.current_limit is not None:
            resets = [limiter.current_limit.reset_at]
        return datetime.fromtimestamp(max(resets), UTC) if resets else None
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, datetime):
        return retry_after if retry_after.tzinfo else retry_after.replace(tzinfo=UTC)
    if isinstance(retry_after, int | float):
        return datetime.now(UTC) + timedelta(seconds=retry_after)
    return None


def _too_many(error: HTTPException) -> Any:
    if isinstance(error, RateLimitExceeded) and error.response is not None:
        return error.response  # the limit's own answer (on_breach), e.g. the donate form kept as typed
    lifted = _limit_lifted_at(error)
    headers: dict[str, str] = {}
    if lifted is None:
        message = _("Too many attempts. Please wait a minute and try again.")
    else:
        lifted = retry_moment(lifted)
        message = _("Too many attempts. Please try again after %(time)s.", time=try_again_at(lifted))
        headers["Retry-After"] = str(retry_after_seconds(lifted))
    if wants_json():
        response = problem(429, HTTPStatus(429).phrase, message)
        response.headers.update(headers)
        return response
    return render_template("errors/error.html", status=429, message=message), 429, headers
