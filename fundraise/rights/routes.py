"""/account/data: download my data, how to correct it, ask for its deletion, and who looked; and the admins'
list of deletion requests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from fundraise.access import roles, signed_in
from fundraise.errors import Forbidden, ValidationFailed
from fundraise.i18n import locale_name
from fundraise.models import Role, User
from fundraise.rights.forms import ArchiveForm, DeletionForm
from fundraise.rights.outcomes import STATE_LABELS, WAITING_LABELS, lines
from fundraise.services import deletion, personal_data
from fundraise.web.forms import apply_field_errors

bp = Blueprint("rights", __name__)


def _me() -> User:
    user: User = current_user._get_current_object()
    return user


def _before() -> int | None:
    value = request.args.get("before", "")
    return int(value) if value.isdigit() else None


@bp.route("/account/data")
@signed_in
def my_data() -> Any:
    user = _me()
    campaign_ids = personal_data.campaigns_of(user)
    looks = personal_data.views_of_campaigns(
        campaign_ids, before=_before(), locale=locale_name(), except_actor_id=user.id
    )
    requests = deletion.requests_of(user)
    return render_template(
        "rights/my_data.html",
        archive_form=ArchiveForm(),
        campaign_ids=campaign_ids,
        looks=looks,
        requests=[(item, lines(item.outcome)) for item in requests],
        state_labels=STATE_LABELS,
        waiting_labels=WAITING_LABELS,
        may_delete=deletion.may_request(user),
        first_page=_before() is None,
    )


@bp.route("/account/data/archive", methods=["POST"])
@signed_in
def archive() -> Any:
    if not ArchiveForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("rights.my_data"))
    export = personal_data.start_export(_me())
    response = Response(
        stream_with_context(personal_data.archive_chunks(export)),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="aidbridge-my-data-{export.user_id}.zip"'},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/data/delete", methods=["GET", "POST"])
@signed_in
def delete() -> Any:
    user = _me()
    form = DeletionForm()
    outline = deletion.plan(user)
    status = 200
    if not outline.refused and form.validate_on_submit():
        try:
            made = deletion.request_deletion(user, form.password.data or "")
        except ValidationFailed as error:
            apply_field_errors(form, error)
        except Forbidden as error:
            flash(error.message, "error")
        else:
            if made.state == "received":
                flash(_("We have received your request. It waits until your campaign has ended."), "info")
                return redirect(url_for("rights.my_data"))
            logout_user()
            return render_template("rights/deleted.html", outcome=lines(made.outcome), request_id=made.id)
    if form.errors:
        status = 422
    return render_template(
        "rights/delete.html",
        form=form,
        outline=outline,
        items=lines([item.to_json() for item in outline.items]),
    ), status


@bp.route("/admin/deletion-requests")
@roles(Role.ADMIN)
def admin_requests() -> Any:
    return render_template(
        "rights/admin_requests.html",
        requests=[(item, lines(item.outcome)) for item in deletion.all_requests()],
        state_labels=STATE_LABELS,
        waiting_labels=WAITING_LABELS,
    )
