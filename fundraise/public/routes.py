"""Public pages (placeholder until the browse pages land)."""

from flask import Blueprint, render_template_string

from fundraise.access import public

bp = Blueprint("public", __name__)


@bp.route("/")
@public
def home():
    return render_template_string(
        "{% extends 'base.html' %}{% block content %}<h1>{{ _('Aidbridge') }}</h1>{% endblock %}"
    )


@bp.route("/campaigns")
@public
def browse():
    return home()
