"""family pages (placeholder)."""

from flask import Blueprint

from fundraise.access import signed_in

bp = Blueprint("family", __name__, url_prefix="/family")


@bp.route("/")
@signed_in
def dashboard():
    return "family"
