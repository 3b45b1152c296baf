"""Aidbridge: the Flask application (models, services, web pages, API, jobs, CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config.settings import CONFIGS, DEVELOPMENT_AUDIT_SIGNING_KEY, PROJECT_ROOT, environment_settings
from fundraise.errors import ConfigurationError

__all__ = ["ConfigurationError", "create_app"]


def create_app(config: str | Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` is an environment name or a mapping of overrides on top of it.

    The environment comes from AIDBRIDGE_ENV (development when unset).
    """
    import os

    overrides: Mapping[str, Any] = {}
    if isinstance(config, Mapping):
        overrides = config
        env_name = str(config.get("ENV_NAME") or os.environ.get("AIDBRIDGE_ENV", "development"))
    else:
        env_name = config or os.environ.get("AIDBRIDGE_ENV", "development")
    if env_name not in CONFIGS:
        raise ConfigurationError(f"unknown environment {env_name!r}; choose one of {', '.join(CONFIGS)}")

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(CONFIGS[env_name])
    app.config["ENV_NAME"] = env_name
    app.config.update(environment_settings())
    app.config.update(overrides)
    if app.config["RATELIMIT_STORAGE_URI"] == "memory://" and app.config["JOBS_MODE"] == "rq":
        # Several web processes must share one count of login attempts.
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
    _refuse_unsafe_settings(app)

    # The application is imported here, inside the factory, not when `fundraise` is: the package is the
    # composition root, imported first by wsgi.py, the CLI and the worker, and a settings error above must
    # stop start-up before any module binds to an extension.
    from fundraise import database, development, i18n, metrics, request_limits, request_log, security
    from fundraise.api import init_app as init_api
    from fundraise.cli import init_app as init_cli
    from fundraise.errors import init_app as init_errors
    from fundraise.extensions import csrf, db, limiter, migrate
    from fundraise.jobs.outbox import init_app as init_outbox
    from fundraise.services.policies import init_app as init_policies
    from fundraise.web.blueprints import init_app as init_web

    # First, so that every request is timed and has its id before any other hook can answer it.
    metrics.init_app(app)
    request_log.init_app(app)
    request_limits.init_app(app)
    database.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,
        render_item=database.render_migration_type,
    )
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    development.init_app(app)
    init_outbox(app)
    init_policies(app)
    init_errors(app)
    init_web(app)
    init_api(app)
    init_cli(app)
    _wire_jobs_and_adapters(app)
    return app


def _wire_jobs_and_adapters(app: Flask) -> None:
    """The composition root's own work: register every job (a module's @job functions register when it is
    imported; nothing below this imports a job module) and hand the sandbox payment provider the webhook
    service it delivers its events to. (Imported inside, as in create_app.)"""
    from fundraise.jobs import campaigns, matching, notifications, receipts, verification  # noqa: F401
    from fundraise.payments import jobs as payment_jobs  # noqa: F401
    from fundraise.payments.sandbox import SandboxProvider
    from fundraise.services.donations import receive_webhook

    provider = app.extensions["payments"]
    if isinstance(provider, SandboxProvider):
        provider.connect(receive_webhook)


def _refuse_unsafe_settings(app: Flask) -> None:
    """Production must be given its secrets; nothing falls back to a development value."""
    required = getattr(CONFIGS[app.config["ENV_NAME"]], "REQUIRED", ())
    missing = [name for name in required if not app.config.get(name)]
    if missing:
        raise ConfigurationError(
            "refusing to start: set " + ", ".join(missing) + " (see README, 'Running in production')"
        )
    if not app.config["OUTBOX_RELAY_IN_REQUEST"] and app.config["JOBS_MODE"] != "rq":
        raise ConfigurationError(
            "refusing to start: OUTBOX_RELAY_IN_REQUEST is off, which leaves jobs to the rq worker's relay loop,"
            " but JOBS_MODE is not rq: no job would ever run"
        )
    from fundraise.audit import AuditKeyError, load_signing_key  # inside, as in create_app
    from fundraise.pii import check_key

    check_key(app.config.get("PII_KEY"))
    if (
        app.config["ENV_NAME"] == "production"
        and app.config["AUDIT_SIGNING_KEY"] == DEVELOPMENT_AUDIT_SIGNING_KEY
    ):
        raise ConfigurationError(
            "refusing to start: AUDIT_SIGNING_KEY is the development key committed to the repository; generate"
            " one (README, 'Running in production')"
        )
    try:
        load_signing_key(app.config["AUDIT_SIGNING_KEY"])
    except AuditKeyError as error:
        raise ConfigurationError(f"refusing to start: {error}") from None
