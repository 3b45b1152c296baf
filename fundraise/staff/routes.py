"""staff pages (placeholder)."""

from flask import Blueprint

from fundraise.access import signed_in

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.route("/")
@signed_in
def dashboard():
    return "staff"
