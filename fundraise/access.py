"""Access rules. Every view declares one: public, signed in, or a set of roles.

The rule is stored on the view function (`view.access`), so a test can check that no route was left
without one, and walk every route as every role.

Below the decorators, the rules of who may see and act for a campaign (the applicant side, staff, officers of
the patient's region), which services check before they change anything: the home for the payout approver
rules to come.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, redirect, request, url_for
from flask_login import current_user

from fundraise.errors import wants_json
from fundraise.models import Campaign, Role, User
from fundraise.states import is_public

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


def current_account() -> User:
    """The signed-in account itself (not Flask-Login's proxy), for views behind a role decorator."""
    return current_user._get_current_object()  # type: ignore[no-any-return]  # flask_login is untyped: current_user is Any


def current_user_or_none() -> User | None:
    """The signed-in account, or None for a visitor: what services take as the caller."""
    return current_user if current_user.is_authenticated else None


# --- who may act -----------------------------------------------------------------------------------------


def is_applicant_side(user: User | None, campaign: Campaign) -> bool:
    """The family that owns the campaign, or a social worker of the campaign's hospital."""
    if user is None or not user.is_authenticated:
        return False
    if user.id == campaign.applicant_id:
        return True
    return (
        user.role == Role.SOCIAL_WORKER
        and campaign.hospital_id is not None
        and (user.hospital_id == campaign.hospital_id or user.id == campaign.filed_by_id)
    )


def is_staff(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.role in (Role.CHARITY_STAFF, Role.ADMIN)


def in_jurisdiction(user: User | None, campaign: Campaign) -> bool:
    if user is None or not user.is_authenticated or user.role != Role.CIVIL_AFFAIRS_OFFICER:
        return False
    prefix = user.jurisdiction_prefix or ""
    return bool(campaign.patient_region_code and campaign.patient_region_code.startswith(prefix))


def can_see_private(user: User | None, campaign: Campaign) -> bool:
    """Evidence documents, full finances, the full ID number: the applicant side, staff, and officers of the
    patient's region."""
    return is_applicant_side(user, campaign) or is_staff(user) or in_jurisdiction(user, campaign)


def can_view(user: User | None, campaign: Campaign) -> bool:
    """Anyone sees a public campaign, and one that ended after taking money (fraud confirmed, closed out) so
    its donors can read what happened; the applicant side, staff and officers see the rest. A campaign whose
    family withdrew consent to the public page (`unpublished_at`) is not public, whatever its state."""
    shown = is_public(campaign.state, campaign.ended_code) and campaign.unpublished_at is None
    return shown or can_see_private(user, campaign)
