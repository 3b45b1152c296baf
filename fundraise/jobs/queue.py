"""The rq queue the outbox relays to and the worker works: its Redis connection, from the app's settings."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue


def redis_connection() -> Redis:
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set; JOBS_MODE=rq needs Redis")
    return Redis.from_url(url)


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_connection())
