"""Charity organisations: their staff review cases and run relief projects. Admins register them."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import func, select

from fundraise import audit
from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.models import Charity, Region, User
from fundraise.unit_of_work import transactional

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
# GB 32100-2015, the unified social credit code: 18 characters from this alphabet (no I, O, S, V, Z), the
# last a check character: 31 - (sum of value x weight over the first 17) mod 31.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_problem(code: str) -> str | None:
    """Why a unified social credit code is not well formed, or None when it is."""
    if len(code) != 18:
        return str(_("A unified social credit code has 18 characters."))
    if any(ch not in CREDIT_CODE_ALPHABET for ch in code):
        return str(
            _("A unified social credit code uses digits and capital letters other than I, O, S, V and Z.")
        )
    total = sum(CREDIT_CODE_ALPHABET.index(ch) * w for ch, w in zip(code, CREDIT_CODE_WEIGHTS, strict=False))
    if CREDIT_CODE_ALPHABET[(31 - total % 31) % 31] != code[17]:
        return str(
            _("The last character of this code does not match (check character). Please check each one.")
        )
    return None


def list_charities() -> list[Charity]:
    return list(db.session.scalars(select(Charity).order_by(Charity.code)))


def staff_counts() -> dict[int, int]:
    """How many staff accounts each charity has."""
    rows = db.session.execute(
        select(User.charity_id, func.count(User.id))
        .where(User.charity_id.is_not(None))
        .group_by(User.charity_id)
    ).all()
    return {charity_id: count for charity_id, count in rows if charity_id is not None}


@transactional
def create_charity(
    *, code: str, name_zh: str, name_en: str, credit_code: str, region_code: str, actor: User | None
) -> Charity:
    """Register a charity; every field is checked before anything is written. Commits."""
    code = (code or "").strip().upper()
    name_zh = (name_zh or "").strip()
    name_en = (name_en or "").strip()
    credit_code = (credit_code or "").strip().upper()
    region_code = (region_code or "").strip()
    errors: dict[str, list[str]] = {}
    if not CODE_PATTERN.match(code):
        errors["code"] = [_("Up to 32 capital letters, digits, dashes or underscores.")]
    elif db.session.scalar(select(Charity.id).where(Charity.code == code)):
        errors["code"] = [_("A charity with this code already exists.")]
    if not name_zh or len(name_zh) > 128:
        errors["name_zh"] = [_("Enter the Chinese name (up to %(n)d characters).", n=128)]
    if not name_en or len(name_en) > 256:
        errors["name_en"] = [_("Enter the English name (up to %(n)d characters).", n=256)]
    problem = credit_code_problem(credit_code)
    if problem:
        errors["credit_code"] = [problem]
    elif db.session.scalar(select(Charity.id).where(Charity.credit_code == credit_code)):
        errors["credit_code"] = [_("A charity with this credit code already exists.")]
    if db.session.get(Region, region_code) is None:
        errors["region_code"] = [_("Enter a region code from the region list, like 110105.")]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    charity = Charity(
        code=code, name_zh=name_zh, name_en=name_en, credit_code=credit_code, region_code=region_code
    )
    db.session.add(charity)
    db.session.flush()
    audit.record(
        "charity.create",
        "charity",
        charity.id,
        actor=actor,
        after={"code": code, "credit_code": credit_code, "region_code": region_code},
    )
    return charity
