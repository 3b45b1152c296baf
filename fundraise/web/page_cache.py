"""Rendered public pages for visitors who are not signed in, kept per process and keyed by what they show.

Who gets a stored page: a GET (or HEAD) from a visitor who is not signed in and has no flashed message waiting,
while PAGE_CACHE_ENABLED (default on). Everyone else gets the page rendered for them, as before.

The key is the caller's content version (one cheap query: `fundraise.public.content_version`) together with
everything else the HTML depends on: host, path and query string, locale, today's date (ages are shown) and the
version of the cached reference data (region, hospital and disease names). A stale page is never looked up: when
anything shown changes, the version changes and the next request renders afresh.

What is never stored: headers and cookies (Flask builds each response, with its own session cookie and security
headers, around the stored HTML), and the CSRF token of a form on the page. The HTML is stored with the token of
the visitor it was rendered for replaced by a marker, and each visitor gets their own token in its place
(`generate_csrf`, which also puts it in their session, exactly as rendering the form would). Only 200 responses
are stored.

Per process and bounded: an LRU of PAGE_CACHE_ENTRIES pages (default 500, a few MB) in each web worker.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from fundraise.i18n import locale_name
from fundraise.services import reference_cache

DEFAULT_ENTRIES = 500


@dataclass(frozen=True)
class Entry:
    body: str  # the HTML with the CSRF marker in place of the token
    data: Any = None  # what the caller needs to check the entry (a list page's ids and raised amounts)


class PageCache:
    """A bounded LRU of rendered pages, safe to share between threads of one process."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max(1, max_entries)
        self.marker = f"page-cache-csrf-{secrets.token_hex(16)}"
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def cache() -> PageCache:
    """The app's page cache (one per app, so per worker process)."""
    found: PageCache | None = current_app.extensions.get("page_cache")
    if found is None:
        found = current_app.extensions.setdefault(
            "page_cache", PageCache(int(current_app.config.get("PAGE_CACHE_ENTRIES", DEFAULT_ENTRIES)))
        )
    return found


def applies() -> bool:
    """Whether this request may be answered from the cache (and its page stored in it)."""
    if not current_app.config.get("PAGE_CACHE_ENABLED", True):
        return False
    if request.method not in ("GET", "HEAD"):
        return False
    if current_user.is_authenticated:
        return False
    # A flashed message is shown once, to this visitor: render the page for them.
    return "_flashes" not in session


def _key(version: Hashable) -> Hashable:
    return (
        version,
        request.host,
        request.full_path,
        locale_name(),
        date.today().isoformat(),
        reference_cache.version(),
    )


def lookup(version: Hashable) -> Entry | None:
    return cache().get(_key(version))


def store(version: Hashable, body: str, data: Any = None) -> None:
    """Keep the page rendered for this request, with this visitor's CSRF token (if any) taken out."""
    page_cache = cache()
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = g.get(field)
    if token:
        body = body.replace(token, page_cache.marker)
    page_cache.put(_key(version), Entry(body, data))


def respond(entry: Entry) -> str:
    """A stored page for this visitor: their own CSRF token where the form has one."""
    marker = cache().marker
    if marker in entry.body:
        return entry.body.replace(marker, generate_csrf())
    return entry.body


def page(version: Hashable, render: Callable[[], Any]) -> Any:
    """The stored page for this version, or `render()` (a body or a (body, status) pair), stored when it is a
    200 with an HTML body."""
    entry = lookup(version)
    if entry is not None:
        return respond(entry)
    result = render()
    body, status = result if isinstance(result, tuple) else (result, 200)
    if status == 200 and isinstance(body, str):
        store(version, body)
    return result
