"""admin pages (placeholder)."""

from flask import Blueprint

from fundraise.access import roles
from fundraise.models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@roles(Role.ADMIN)
def users():
    return "admin"
