"""Test fixtures: a fresh app per test from the factory, the schema made once by the migrations.

With TEST_DATABASE_URL (PostgreSQL) and REDIS_URL set, the suite runs on real services; with
REQUIRE_SERVICES=1 their absence is an error, not a skip. Without them it runs on SQLite and skips only the
tests marked `services`, saying why.

Each test's rows are removed after it (reference data stays): services own their commits and the
concurrency tests need real commits from several connections, which a rolled-back outer transaction
cannot give.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from fundraise import create_app
from fundraise.extensions import db

REFERENCE_TABLES = {"regions", "hospitals", "disease_ranges", "alembic_version"}
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# Under `pytest -n` (make test) each worker process ("gw0", "gw1", ...) has a database and a Redis database of
# its own, named after the given ones: the tests empty tables and flush Redis, which would pull the floor out
# from under another worker's test. Set in the environment too, for the subprocesses some tests start.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _database_of_worker(url: str, worker: str) -> str:
    """A fresh database `<name>_<worker>` on the same server as `url` (which must exist), and its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    given = make_url(url)
    name = f"{given.database}_{worker}"
    with psycopg.connect(
        given.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return given.set(database=name).render_as_string(hide_password=False)


def _redis_of_worker(url: str, worker: str) -> str:
    """The Redis database after the given one, one per worker (of Redis's 16)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) + 1 + int(worker.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{number % 16}"))


if WORKER and TEST_DATABASE_URL:
    TEST_DATABASE_URL = os.environ["TEST_DATABASE_URL"] = _database_of_worker(TEST_DATABASE_URL, WORKER)
if WORKER and REDIS_URL:
    REDIS_URL = os.environ["REDIS_URL"] = _redis_of_worker(REDIS_URL, WORKER)


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_SERVICES and not (TEST_DATABASE_URL and REDIS_URL):
        raise pytest.UsageError("REQUIRE_SERVICES=1 but TEST_DATABASE_URL or REDIS_URL is not set")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DATABASE_URL and REDIS_URL:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis: set TEST_DATABASE_URL and REDIS_URL")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build the schema once per run by running the migrations, and load the reference data."""
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        from flask_migrate import downgrade, upgrade

        if TEST_DATABASE_URL:
            downgrade(revision="base")  # a clean slate on a reused database
        upgrade()
        from fundraise.services.reference_data import load_all

        load_all()
        db.session.remove()
        db.engine.dispose()
    return url


@pytest.fixture
def app_settings(tmp_path: Path) -> dict[str, Any]:
    """Override in a test module to change settings."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_settings: dict[str, Any]) -> Iterator[Flask]:
    settings = {
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "SERVER_NAME": "localhost",
    }
    settings.update(app_settings)
    app = create_app(settings)
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (our own table names)


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request starts with an empty `g`, as in production.

    The `app` fixture keeps one app context open for the whole test (so tests can use db.session), and a
    request reuses an open app context; without this, Flask-Login's cached user and the CSRF token in `g`
    would leak from one request into the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask import g

        g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def login(client: FlaskClient) -> Any:
    """login(user) signs the test client in as that user (password from the factory)."""
    from tests.factories import PASSWORD

    def sign_in(user: Any) -> Any:
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    return sign_in
