"""Domain errors and how they reach people: a page with a message, or a JSON problem document for the API."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


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
    return request.path.startswith("/api/")


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

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        status = error.code or 500
        messages = {
            401: _("Please sign in."),
            403: _("You do not have permission to see this page."),
            404: _("We could not find that page."),
            405: _("That action is not allowed here."),
            413: _("The upload is too large."),
            429: _("Too many attempts. Please wait a minute and try again."),
        }
        message = messages.get(status, error.description or error.name)
        if wants_json():
            return problem(status, error.name, message)
        return render_template("errors/error.html", status=status, message=message), status
