"""Payment pages and the webhook endpoint.

- POST /payments/webhooks/<provider>: the provider's signed events. CSRF-exempt (the signature is the
  authentication), raw body verified; 400 for a bad or stale signature or an unreadable event, 200 for
  everything verified (duplicates and unknown types included), never a 5xx for bad input.
- /sandbox/checkout/<payment_id>: the sandbox's checkout page, "SANDBOX — no real money". A blueprint of its
  own, registered only in development and tests: in production the route does not exist.
- /donate/<id>/pay: the Stripe payment page (Stripe Elements is mounted there in production).
- /donate/<id>/status: where the donor lands after paying; shows the state and the receipt number.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, cast

from flask import Blueprint, Flask, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from fundraise.access import public
from fundraise.errors import problem
from fundraise.extensions import csrf, db
from fundraise.metrics import count_webhook, webhook_outcome
from fundraise.models import Campaign, Donation
from fundraise.payments import SANDBOX_ENVIRONMENTS, get_provider, init_app
from fundraise.payments.links import donation_token
from fundraise.payments.provider import InvalidSignature, MalformedEvent, ProviderError
from fundraise.payments.sandbox import SandboxProvider
from fundraise.services.donations import receive_webhook
from fundraise.web.redirects import safe_target

log = logging.getLogger(__name__)
bp = Blueprint("payments", __name__)
sandbox_bp = Blueprint("sandbox", __name__)
# Webhook bodies are small (Stripe's are a few kB); anything much larger is not an event.
MAX_WEBHOOK_BYTES = 256 * 1024


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    """Registering the blueprint sets up the app's one payment provider."""
    app = cast(Flask, state.app)  # typed as Flask's sans-IO App; blueprints are registered on a Flask app
    init_app(app)
    if app.config.get("ENV_NAME") in SANDBOX_ENVIRONMENTS:
        app.register_blueprint(sandbox_bp)

    @app.context_processor
    def _sandbox_flag() -> dict[str, Any]:
        # Pages that take or show payments include payments/_sandbox_banner.html when this is true.
        return {"sandbox_payments": app.config.get("PAYMENTS_PROVIDER", "sandbox") == "sandbox"}


@bp.route("/payments/webhooks/<provider_name>", methods=["POST"])
@public
def webhook(provider_name: str) -> Any:

    client = get_provider()
    if provider_name != client.name:
        abort(404)
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        count_webhook(client.name, "rejected_too_large")
        return problem(413, "Payload too large")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_WEBHOOK_BYTES:
        count_webhook(client.name, "rejected_too_large")
        return problem(413, "Payload too large")
    try:
        result = receive_webhook(client, raw, dict(request.headers))
    except InvalidSignature as error:
        count_webhook(client.name, "rejected_signature")
        return problem(400, "Invalid signature", str(error))
    except MalformedEvent as error:
        count_webhook(client.name, "rejected_malformed")
        return problem(400, "Malformed event", str(error))
    except Exception:
        count_webhook(client.name, "error")
        raise
    count_webhook(client.name, webhook_outcome(result))
    return jsonify({"received": True, "result": result})


csrf.exempt(webhook)


# --- the sandbox's checkout ------------------------------------------------------------------------------


def _sandbox() -> Any:

    client = get_provider()
    if not isinstance(client, SandboxProvider):
        abort(404)
    return client


@sandbox_bp.route("/sandbox/checkout/<payment_id>", methods=["GET", "POST"])
@public
def checkout(payment_id: str) -> Any:
    client = _sandbox()
    payment = client.payment(payment_id)
    if payment is None:
        abort(404)
    donation = db.session.get(Donation, payment.donation_id)
    campaign = db.session.get(Campaign, payment.campaign_id)
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "pay":
                result = client.pay(payment_id)
            elif action == "decline":
                result = client.decline(payment_id)
            else:
                abort(400)
        except ProviderError:
            abort(409)
        log.info("sandbox %s %s: %s", action, payment_id, result)
        return redirect(safe_target(payment.return_url, url_for(".checkout", payment_id=payment_id)))
    return render_template(
        "payments/sandbox_checkout.html", payment=payment, donation=donation, campaign=campaign
    )


# --- a donation's own pages ------------------------------------------------------------------------------


def _donation(donation_id: int) -> Donation:
    donation = db.session.get(Donation, donation_id)
    token = request.args.get("t", "")
    if donation is None or not hmac.compare_digest(token, donation_token(donation_id)):
        abort(404)
    return donation


@bp.route("/donate/<int:donation_id>/pay")
@public
def stripe_pay(donation_id: int) -> Any:
    donation = _donation(donation_id)
    client = get_provider()
    client_secret = None
    if (
        donation.status in ("created", "failed")
        and donation.provider_payment_id
        and hasattr(client, "client_secret")
    ):
        try:
            client_secret = client.client_secret(donation.provider_payment_id)
        except ProviderError:
            client_secret = None
    return render_template(
        "payments/pay.html",
        donation=donation,
        campaign=db.session.get(Campaign, donation.campaign_id),
        client_secret=client_secret,
        publishable_key=current_app.config.get("STRIPE_PUBLISHABLE_KEY"),
        return_url=safe_target(request.args.get("next"), ""),
    )


@bp.route("/donate/<int:donation_id>/status")
@public
def donation_status(donation_id: int) -> Response | str:
    donation = _donation(donation_id)
    return render_template(
        "payments/status.html", donation=donation, campaign=db.session.get(Campaign, donation.campaign_id)
    )
