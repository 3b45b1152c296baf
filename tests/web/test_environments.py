"""What each environment refuses: production without a real payment provider, development beyond loopback."""

from __future__ import annotations

import pytest

from fundraise import ConfigurationError, create_app

PRODUCTION_SECRETS = {
    "SECRET_KEY": "s" * 40,
    "PII_KEY": "ZGV2LW9ubHktcGlpLWtleS1ub3QtZm9yLXByb2QhISE=",
    "AUDIT_SIGNING_KEY": "cHJvZHVjdGlvbi1hdWRpdC1rZXktZm9yLXRlc3RzLi4=",
    "DATABASE_URL": "postgresql://x@127.0.0.1/x",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}
STRIPE_KEYS = {
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
}


@pytest.fixture
def production_env(monkeypatch):
    for name in ("PAYMENTS_PROVIDER", *STRIPE_KEYS):
        monkeypatch.delenv(name, raising=False)
    for name, value in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_production_without_a_payment_provider_refuses_to_start(production_env):
    with pytest.raises(ConfigurationError, match=r"PAYMENTS_PROVIDER=stripe.*STRIPE_SECRET_KEY"):
        create_app("production")


def test_production_refuses_the_sandbox(production_env):
    production_env.setenv("PAYMENTS_PROVIDER", "sandbox")
    with pytest.raises(ConfigurationError, match=r"sandbox.*not in production"):
        create_app("production")


@pytest.mark.parametrize("missing", sorted(STRIPE_KEYS))
def test_production_names_each_missing_stripe_key(production_env, missing):
    production_env.setenv("PAYMENTS_PROVIDER", "stripe")
    for name, value in STRIPE_KEYS.items():
        if name != missing:
            production_env.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"set {missing}$"):
        create_app("production")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("ZGV2LW9ubHktYXVkaXQta2V5LW5vdC1mb3ItcHJvZCE=", "AUDIT_SIGNING_KEY is the development key"),
        ("c2hvcnQ=", "AUDIT_SIGNING_KEY must encode 32 bytes, not 5"),
        ("not base64!", "AUDIT_SIGNING_KEY is not base64"),
    ],
)
def test_production_refuses_a_development_or_malformed_audit_key(production_env, key, message):
    production_env.setenv("PAYMENTS_PROVIDER", "stripe")
    for name, value in STRIPE_KEYS.items():
        production_env.setenv(name, value)
    production_env.setenv("AUDIT_SIGNING_KEY", key)
    with pytest.raises(ConfigurationError, match=message):
        create_app("production")


def test_production_with_stripe_starts_and_has_no_sandbox_route(production_env):
    production_env.setenv("PAYMENTS_PROVIDER", "stripe")
    for name, value in STRIPE_KEYS.items():
        production_env.setenv(name, value)
    app = create_app("production")
    assert app.extensions["payments"].name == "stripe"
    assert not [rule.rule for rule in app.url_map.iter_rules() if "sandbox" in rule.rule]
    assert "sandbox" not in app.blueprints


def test_the_sandbox_route_exists_in_development_and_tests(app):
    assert any(rule.rule.startswith("/sandbox/checkout/") for rule in app.url_map.iter_rules())


def _development_app(database_url, tmp_path):
    return create_app(
        {
            "ENV_NAME": "development",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )


def test_development_says_loudly_that_it_is_development(database_url, tmp_path, capsys):
    _development_app(database_url, tmp_path)
    assert "DEVELOPMENT mode" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("remote_addr", "host", "status"),
    [
        ("127.0.0.1", "127.0.0.1:5000", 200),
        ("::1", "[::1]:5000", 200),
        ("127.0.0.1", "localhost:5000", 200),
        ("192.0.2.10", "127.0.0.1:5000", 403),  # another machine
        ("127.0.0.1", "aidbridge.example.cn", 403),  # a reverse proxy in front, forwarding a public name
        ("10.1.2.3", "aidbridge.example.cn", 403),
    ],
)
def test_development_serves_loopback_only(database_url, tmp_path, remote_addr, host, status):
    app = _development_app(database_url, tmp_path)
    response = app.test_client().get(
        "/healthz", headers={"Host": host}, environ_overrides={"REMOTE_ADDR": remote_addr}
    )
    assert response.status_code == status
    if status == 403:
        assert "AIDBRIDGE_ENV=production" in response.get_data(as_text=True)


def test_leaving_jobs_to_the_worker_without_a_worker_refuses_to_start(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("OUTBOX_RELAY_IN_REQUEST", "0")
    with pytest.raises(ConfigurationError, match=r"OUTBOX_RELAY_IN_REQUEST is off.*JOBS_MODE is not rq"):
        _development_app(database_url, tmp_path)
