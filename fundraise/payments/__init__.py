"""Payments: the provider port, its Stripe and sandbox adapters, the webhook endpoint and the sandbox pages.

One configured provider per app, in `app.extensions["payments"]`, built when the payments blueprint is
registered (so every app the factory makes has it) and chosen by PAYMENTS_PROVIDER. Production takes only a
real provider with all its keys: the sandbox records simulated gifts as raised, and must never meet real
donors.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app

from fundraise.errors import ConfigurationError
from fundraise.payments.provider import PaymentProvider
from fundraise.payments.sandbox import SandboxProvider
from fundraise.payments.stripe_provider import StripeProvider

PROVIDERS = ("sandbox", "stripe")
# Where the sandbox may run: its checkout page pays any donation without money moving.
SANDBOX_ENVIRONMENTS = ("development", "testing")
# Stripe's keys, each needed in production: the API key makes payments and refunds, the webhook secret
# authenticates events, the publishable key mounts the card form on the payment page.
STRIPE_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY")


def build_provider(app: Flask) -> PaymentProvider:

    name = app.config.get("PAYMENTS_PROVIDER")
    environment = app.config.get("ENV_NAME", "development")
    tolerance = int(app.config.get("WEBHOOK_TOLERANCE_SECONDS", 300))
    if not name:
        raise ConfigurationError(
            "refusing to start: set PAYMENTS_PROVIDER=stripe with "
            + ", ".join(STRIPE_KEYS)
            + " (see README, 'Running in production')"
        )
    if name == "sandbox":
        if environment not in SANDBOX_ENVIRONMENTS:
            raise ConfigurationError(
                f"refusing to start: the sandbox payment provider takes no real money and runs only in "
                f"development and tests, not in {environment}; set PAYMENTS_PROVIDER=stripe with "
                + ", ".join(STRIPE_KEYS)
            )

        return SandboxProvider(
            secret=sandbox_secret(app), fee_bps=int(app.config.get("SANDBOX_FEE_BPS", 0)), tolerance=tolerance
        )
    if name == "stripe":
        needed = STRIPE_KEYS if environment not in SANDBOX_ENVIRONMENTS else STRIPE_KEYS[:2]
        missing = [key for key in needed if not app.config.get(key)]
        if missing:
            raise ConfigurationError(
                f"refusing to start: PAYMENTS_PROVIDER is stripe; set {', '.join(missing)}"
            )
        return StripeProvider(
            api_key=app.config["STRIPE_SECRET_KEY"],
            webhook_secret=app.config["STRIPE_WEBHOOK_SECRET"],
            api_base=app.config.get("STRIPE_API_BASE"),
            payment_method_types=tuple(app.config.get("STRIPE_PAYMENT_METHOD_TYPES") or ()),
            timeout=float(app.config.get("STRIPE_TIMEOUT_SECONDS", 20)),
            max_network_retries=int(app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2)),
            tolerance=tolerance,
        )
    raise ConfigurationError(f"unknown PAYMENTS_PROVIDER {name!r}; choose one of {', '.join(PROVIDERS)}")


def init_app(app: Flask) -> None:
    app.extensions["payments"] = build_provider(app)


def get_provider() -> PaymentProvider:
    provider: PaymentProvider = current_app.extensions["payments"]
    return provider


def sandbox_secret(app: Flask) -> bytes:
    """The sandbox's webhook signing secret, derived from SECRET_KEY (so it is never a constant)."""
    key = str(app.config.get("SECRET_KEY") or "")
    return hmac.new(key.encode(), b"aidbridge sandbox webhook signing", hashlib.sha256).digest()
