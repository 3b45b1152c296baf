"""Access rules. Every view declares one: public, signed in, or a set of roles.

The rule is stored on the view function (`view.access`), so a test can check that no route was left
without one, and walk every route as every role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, redirect, request, url_for
from flask_login import current_user

from fundraise.errors import wants_json
from fundraise.models import Role, User

F = TypeVar("F", bound=Callable[..., Any])
STAFF_ROLES = frozenset({Role.CHARITY_STAFF, Role.ADMIN})


def public(view: F) -> F:
    """Anyone, signed in or not."""
    view.access = ("public", frozenset())  # type: ignore[attr-defined]  # a function attribute the access check reads
    return view


def signed_in(view: F) -> F:
    """Any signed-in account."""
    return roles(*Role)(view)


def roles(*allowed: Role) -> Callable[[F], F]:
    """Only accounts with one of these roles: 401 for API callers who are not signed in, a login redirect for
    pages; 403 for signed-in callers without the role."""
    allowed_values = frozenset(str(role) for role in allowed)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if wants_json():
                    abort(401)
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if current_user.role not in allowed_values:
                abort(403)
            return view(*args, **kwargs)

        wrapper.access = ("roles", allowed_values)  # type: ignore[attr-defined]  # a function attribute the access check reads
        return wrapper  # type: ignore[return-value]  # wraps() keeps the view's name; the call signature is the view's

    return decorate


def current_user_or_none() -> User | None:
    """The signed-in account, or None for a visitor: what services take as the caller."""
    return current_user if current_user.is_authenticated else None
