"""Settings for each way Aidbridge runs: development (embedded default), testing and production.

Nothing here builds an engine or opens a connection; the app factory reads these values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
REFERENCE_DIR = PROJECT_ROOT / "config" / "reference"


# The embedded default's audit signing key: committed to the repository, so production refuses it.
DEVELOPMENT_AUDIT_SIGNING_KEY = "ZGV2LW9ubHktYXVkaXQta2V5LW5vdC1mb3ItcHJvZCE="


class Config:
    """Defaults shared by every environment."""

    SECRET_KEY: str | None = None
    # 32 bytes, urlsafe-base64; encrypts national ID numbers and keys their blind index.
    PII_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {"pool_pre_ping": True}
    REDIS_URL: str | None = None
    # "inline" runs jobs in-process right after the commit that made their work visible; "rq" relays to Redis.
    JOBS_MODE = "inline"
    RQ_QUEUE = "aidbridge"
    UPLOAD_DIR: str = str(INSTANCE_DIR / "uploads")
    MAX_UPLOAD_BYTES = 10 * 1024 * 1024
    # Several files per form: the request may carry a few full-size uploads.
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024
    # How many files one request may send, and one campaign hold (each refused with a message naming the
    # limit). A campaign page shows a handful of photos; a case file needs a few scans of each of the four
    # evidence kinds, with room for pages sent again; updates carry at most 9 photos each, so 200 is over 20
    # full updates.
    MAX_FILES_PER_REQUEST = 10
    MAX_CAMPAIGN_PHOTOS = 12
    MAX_EVIDENCE_DOCUMENTS = 30
    MAX_UPDATE_PHOTOS = 200
    # Bills for disbursements and evidence sent about a report, after filing: a long treatment has many bills.
    MAX_BILL_DOCUMENTS = 200
    # Files civil-affairs officers attach to their findings about one recipient, all findings together.
    MAX_FINDING_ATTACHMENTS = 100
    # "sandbox" (the embedded default: a local checkout page, no real money) or "stripe".
    PAYMENTS_PROVIDER: str | None = "sandbox"
    # A live records service speaking fundraise/records/CONTRACT.md; unset, verification reads the imported
    # records in our own database.
    RECORDS_SERVICE_URL: str | None = None
    RECORDS_SERVICE_TOKEN: str | None = None
    RECORDS_SERVICE_TIMEOUT = 10
    # Stripe: the secret API key and the webhook endpoint's signing secret (both from the environment).
    STRIPE_SECRET_KEY: str | None = None
    STRIPE_WEBHOOK_SECRET: str | None = None
    # Public: the payment page gives it to Stripe.js to mount the card form.
    STRIPE_PUBLISHABLE_KEY: str | None = None
    # Only for tests against a local fake (localstripe, a contract server); None means Stripe's own API.
    STRIPE_API_BASE: str | None = None
    # Payment methods a PaymentIntent allows (e.g. ("card", "alipay", "wechat_pay") for CNY); empty means
    # whatever the Stripe Dashboard enables for the account.
    STRIPE_PAYMENT_METHOD_TYPES: tuple[str, ...] = ()
    STRIPE_TIMEOUT_SECONDS = 20
    STRIPE_MAX_NETWORK_RETRIES = 2
    # How old a signed webhook may be (seconds); older ones are refused as replays. Stripe's default.
    WEBHOOK_TOLERANCE_SECONDS = 300
    # The sandbox reports a processor fee so the fee path runs in the demo: 0.6% rounded down to the fen
    # (illustrative, the order of a domestic wallet merchant rate; not a quote).
    SANDBOX_FEE_BPS = 60
    # One donation: at least 1 yuan, at most 50,000 yuan. The floor stops card testing with tiny amounts; the
    # ceiling is a card-testing and anti-money-laundering brake (larger gifts go through a charity directly).
    DONATION_MIN_FEN = 1 * 100
    DONATION_MAX_FEN = 50_000 * 100
    # A donor's message is shown publicly beside the gift: a line or two, not a letter.
    DONATION_MESSAGE_MAX_CHARS = 200

    # Friends and relatives vouching (亲友证实): vouchers one account may give in a day. A family's circle rarely
    # vouches for more than a campaign or two; an account lending its name to dozens is not one person's circle.
    VOUCHES_PER_DAY = 10

    # Matching (DESIGN §5): an offer nobody approved or declined within this many days expires and its budget
    # goes back to the next run. Two weeks: long enough for a charity that meets weekly, short enough that a
    # family is not kept waiting on money nobody is deciding about.
    MATCH_OFFER_DAYS = 14
    # The case priority's weights (matching/priority.py); None keeps the documented defaults.
    MATCH_PRIORITY_WEIGHTS: dict[str, object] | None = None

    # Disbursements (DESIGN §5, Payout): how long a request is shown on the public page, open to objections,
    # before anyone may approve it; from what amount two different approvers are needed (50,000 yuan, in fen).
    DISBURSEMENT_NOTICE_HOURS = 24
    # How long the register keeps a region's order, totals and hospitals in each process (seconds): officers
    # paging through it see recipients filed in the last half minute on their next look.
    REGISTER_CACHE_SECONDS = 30
    DISBURSEMENT_TWO_APPROVERS_FROM_FEN = 5_000_000
    # The registered charity that holds campaign funds in custody (its code): its staff approve disbursements
    # from campaign funds, and its finance members record their transfers. None: no campaign-fund disbursement
    # can be approved (the pages say so); relief-commitment disbursements are approved by the project's charity.
    CUSTODIAN_CHARITY: str | None = None

    BABEL_DEFAULT_LOCALE = "zh_CN"
    # Dates are shown in China Standard Time; they are stored in UTC.
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "fundraise" / "translations")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 12
    WTF_CSRF_TIME_LIMIT = 60 * 60 * 12
    # "Keep me signed in": the remember-me cookie and its server-side session last this long (seconds); a
    # sign-in without it ends on the server after PERMANENT_SESSION_LIFETIME.
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 30
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host (0: none, trust no such
    # header). Behind one load balancer, 1: the sign-in limit per address then sees the visitor's address.
    TRUSTED_PROXY_COUNT = 0

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_ENABLED = True
    # Evaluate every limit of a route, so a refusal can say when all of them allow the next try.
    RATELIMIT_FAIL_ON_FIRST_BREACH = False
    # FAILED sign-ins per address (a successful one is never counted). A hospital ward or a charity office
    # shares one address: a few dozen people mistyping now and then stay far below this; a password-guessing
    # run does not. Per account, the lock below applies whatever the address.
    LOGIN_RATE_LIMIT = "30 per minute; 300 per hour"
    # Per account: this many failed sign-ins within the window lock the account for LOGIN_LOCK_SECONDS, and
    # the owner is told (OWASP Authentication Cheat Sheet: lock after a small number of failures, for a while).
    LOGIN_MAX_FAILURES = 10
    LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    LOGIN_LOCK_SECONDS = 15 * 60
    # Requests for a password reset link ("Forgot your password?"), every one counted: per address, and per
    # e-mail address asked about (whether or not an account has it, so the limit tells nothing), which keeps
    # anyone from filling a mailbox with links.
    PASSWORD_RESET_RATE_LIMIT = "10 per minute; 50 per hour"  # noqa: S105  (a rate, not a password)
    PASSWORD_RESET_EMAIL_RATE_LIMIT = "3 per 15 minutes; 10 per day"  # noqa: S105  (a rate, not a password)

    SMTP_HOST: str | None = None
    SMTP_PORT = 587
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_SENDER = "noreply@aidbridge.cn"

    # Ed25519 private key (base64 of 32 bytes) that signs the audit log's checkpoints; its public half is
    # published on /transparency and with every checkpoint. Production must be given its own.
    AUDIT_SIGNING_KEY: str | None = None
    # A signed checkpoint of the audit chain's head at most this often (seconds); 0: after every sealed batch.
    AUDIT_CHECKPOINT_SECONDS = 10
    # How often the worker's sealing loop looks for committed, unsealed audit events (seconds).
    AUDIT_SEAL_INTERVAL_SECONDS = 1.0
    # Seal right after each commit that wrote audit events, in the committing process (the embedded default,
    # where no worker runs); production leaves it to the worker, off the request's path.
    AUDIT_SEAL_AFTER_COMMIT = False
    # Hand the jobs a request queued to their runner when the request ends. Off, the worker's relay loop
    # (every OUTBOX_RELAY_INTERVAL_SECONDS) picks them up instead: production keeps the request to its own
    # work, since relaying to rq costs a request about as much as a webhook's whole posting.
    OUTBOX_RELAY_IN_REQUEST = True
    OUTBOX_RELAY_INTERVAL_SECONDS = 5.0

    CAMPAIGNS_PER_PAGE = 12
    # Self-regulation convention 2.0 (2020): one request may ask for at most 500,000 yuan.
    MAX_TARGET_FEN = 500_000 * 100

    # GET /metrics answers a request bearing `Authorization: Bearer <METRICS_TOKEN>` (Prometheus) or a
    # signed-in admin, and 404s everyone else. Unset, no token opens it.
    METRICS_TOKEN: str | None = None
    # "text": readable log lines; "json": one JSON object per line (time, level, logger, message,
    # request_id, job, outbox_id) for a log collector; empty: leave logging as the host process set it up.
    LOG_FORMAT: str | None = "text"


class DevelopmentConfig(Config):
    """The embedded default: SQLite in instance/, jobs inline, sandbox payments."""

    DEBUG = False
    SECRET_KEY = "dev-only-secret-key-not-for-production"  # noqa: S105
    PII_KEY = "ZGV2LW9ubHktcGlpLWtleS1ub3QtZm9yLXByb2QhISE="  # base64 of a fixed 32-byte dev key
    AUDIT_SIGNING_KEY = DEVELOPMENT_AUDIT_SIGNING_KEY
    # The demo seals after every commit: a checkpoint for every batch.
    AUDIT_SEAL_AFTER_COMMIT = True
    AUDIT_CHECKPOINT_SECONDS = 0
    SQLALCHEMY_DATABASE_URI: str | None = f"sqlite:///{INSTANCE_DIR / 'aidbridge.sqlite3'}"
    # The demo is served over plain http on loopback.
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    # The demo's custodian charity (services/demo.py creates it); production names its own, or none.
    CUSTODIAN_CHARITY: str | None = "ANXIN"


class TestingConfig(DevelopmentConfig):
    """Tests: the database comes from TEST_DATABASE_URL (PostgreSQL) or a temporary SQLite file."""

    TESTING = True
    # pytest captures the records (caplog) and shows them with a failing test.
    LOG_FORMAT = None
    # Tests read English text unless they ask for Chinese (Accept-Language or the language switch).
    BABEL_DEFAULT_LOCALE = "en"
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    # Each look at the register reads afresh: tests change recipients between looks.
    REGISTER_CACHE_SECONDS = 0
    SQLALCHEMY_DATABASE_URI = None


class ProductionConfig(Config):
    """PostgreSQL, Redis and rq workers; refuses to start without its secrets and a real payment provider."""

    JOBS_MODE = "rq"
    OUTBOX_RELAY_IN_REQUEST = False
    OUTBOX_RELAY_INTERVAL_SECONDS = 0.5
    LOG_FORMAT = "json"
    # No default: the payments module refuses to start unless this is "stripe" with all of Stripe's keys.
    PAYMENTS_PROVIDER = None
    REQUIRED = ("SECRET_KEY", "PII_KEY", "AUDIT_SIGNING_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

# Environment variables that override settings in every environment.
ENVIRONMENT_OVERRIDES = {
    "SECRET_KEY": "SECRET_KEY",
    "PII_KEY": "PII_KEY",
    "AUDIT_SIGNING_KEY": "AUDIT_SIGNING_KEY",
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "REDIS_URL",
    "UPLOAD_DIR": "UPLOAD_DIR",
    "SMTP_HOST": "SMTP_HOST",
    "SMTP_USER": "SMTP_USER",
    "SMTP_PASSWORD": "SMTP_PASSWORD",
    "SMTP_SENDER": "SMTP_SENDER",
    "RATELIMIT_STORAGE_URI": "RATELIMIT_STORAGE_URI",
    "TRUSTED_PROXY_COUNT": "TRUSTED_PROXY_COUNT",
    "PAYMENTS_PROVIDER": "PAYMENTS_PROVIDER",
    "STRIPE_SECRET_KEY": "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET": "STRIPE_WEBHOOK_SECRET",
    "STRIPE_PUBLISHABLE_KEY": "STRIPE_PUBLISHABLE_KEY",
    "RECORDS_SERVICE_URL": "RECORDS_SERVICE_URL",
    "RECORDS_SERVICE_TOKEN": "RECORDS_SERVICE_TOKEN",
    "METRICS_TOKEN": "METRICS_TOKEN",
    "LOG_FORMAT": "LOG_FORMAT",
    "JOBS_MODE": "JOBS_MODE",
}


def environment_settings() -> dict[str, str | bool]:
    """Settings given by environment variables (empty values are ignored)."""
    found: dict[str, str | bool] = {}
    for variable, setting in ENVIRONMENT_OVERRIDES.items():
        value = os.environ.get(variable)
        if value:
            found[setting] = value
    if "SMTP_PORT" in os.environ:
        found["SMTP_PORT"] = os.environ["SMTP_PORT"]
    for switch in ("AUDIT_SEAL_AFTER_COMMIT", "OUTBOX_RELAY_IN_REQUEST"):
        if switch in os.environ:
            # "0", "false" or "no" turns it off, anything else on.
            found[switch] = os.environ[switch].lower() not in ("0", "false", "no")
    return found
