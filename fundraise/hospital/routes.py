"""hospital pages (placeholder)."""

from flask import Blueprint

from fundraise.access import signed_in

bp = Blueprint("hospital", __name__, url_prefix="/hospital")


@bp.route("/")
@signed_in
def dashboard():
    return "hospital"
