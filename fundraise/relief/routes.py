"""Pages for charity staff (and admins): relief projects, matching runs, the offers queue and a case's "why"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from fundraise.access import STAFF_ROLES, current_account, roles
from fundraise.errors import DomainError, ValidationFailed
from fundraise.extensions import db
from fundraise.i18n import locale_name
from fundraise.matching_text import problem_fields
from fundraise.models import Campaign, Charity, DiseaseRange, OfferStatus, ReliefProject, Role
from fundraise.pagination import parse_page
from fundraise.relief.forms import DecisionForm, DepositForm, ProjectForm, RunForm, StatusForm
from fundraise.services import matching_runs, matching_why, offers, relief_projects
from fundraise.services.search import category_label
from fundraise.web.forms import apply_field_errors
from matching.rules import RuleError

bp = Blueprint("relief", __name__, url_prefix="/relief")
STAFF = tuple(STAFF_ROLES)


def _project_form(**kwargs: Any) -> ProjectForm:
    form = ProjectForm(**kwargs)
    locale = locale_name()
    categories = db.session.scalars(select(DiseaseRange.category).distinct()).all()
    form.disease_categories.choices = [
        SelectChoice(c, label) for label, c in sorted((category_label(c, locale), c) for c in categories)
    ]
    return form


def _charities() -> list[Charity]:
    return list(db.session.scalars(select(Charity).order_by(Charity.code)))


@bp.route("/projects")
@roles(*STAFF)
def projects() -> Any:
    actor = current_account()
    listed = relief_projects.list_projects(actor)
    return render_template(
        "relief/projects.html",
        projects=listed,
        money=relief_projects.money([p.id for p in listed]),
    )


def _preview(form: ProjectForm) -> relief_projects.Preview | None:
    try:
        return relief_projects.preview(form.rule())
    except RuleError as error:
        apply_field_errors(
            form,
            ValidationFailed("", fields=problem_fields(error.problems, prefix="rules.")),
            ProjectForm.ALIASES,
        )
        return None


@bp.route("/projects/new", methods=["GET", "POST"])
@roles(*STAFF)
def new_project() -> Any:
    actor = current_account()
    form = _project_form()
    preview = None
    charity_id = request.form.get("charity_id", type=int)
    if form.validate_on_submit():
        if "preview" in request.form:
            preview = _preview(form)
        else:
            try:
                project = relief_projects.create_project(actor, form.service_fields(), charity_id=charity_id)
            except ValidationFailed as error:
                apply_field_errors(form, error, ProjectForm.ALIASES)
            else:
                flash(_("Project created and its budget deposited."), "success")
                return redirect(url_for("relief.project", project_id=project.id))
    _every_problem(form, creating=True)
    status = 422 if form.errors else 200
    charities = _charities() if actor.role == Role.ADMIN else []
    return render_template(
        "relief/project_form.html",
        form=form,
        preview=preview,
        project=None,
        charities=charities,
        charity_id=charity_id,
    ), status


def _every_problem(form: ProjectForm, *, creating: bool) -> None:
    """After a submit the form itself refused (an amount that does not read, say), the rule's and the terms'
    problems too, so the person corrects everything in one round rather than one round per layer."""
    if request.method != "POST" or not form.errors:
        return
    marked = {name for name, errors in form.errors.items() if errors}
    more = {
        name: messages
        for name, messages in relief_projects.field_problems(form.service_fields(), creating=creating).items()
        if ProjectForm.ALIASES.get(name, name) not in marked
    }
    if more:
        apply_field_errors(form, ValidationFailed("", fields=more), ProjectForm.ALIASES)


@bp.route("/projects/<int:project_id>")
@roles(*STAFF)
def project(project_id: int) -> Any:
    found = relief_projects.get_project(project_id, current_account())
    return _project_page(found, DepositForm(), StatusForm(status=found.status))


def _project_page(
    found: ReliefProject, deposit_form: DepositForm, status_form: StatusForm, code: int = 200
) -> Any:
    return render_template(
        "relief/project.html",
        project=found,
        money=relief_projects.money([found.id])[found.id],
        statement=relief_projects.budget_statement(found),
        offer_counts=relief_projects.offer_counts(found),
        deposit_form=deposit_form,
        status_form=status_form,
    ), code


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def edit_project(project_id: int) -> Any:
    actor = current_account()
    found = relief_projects.get_project(project_id, actor)
    form = _project_form(obj=None)
    preview = None
    if request.method == "GET":
        form.name.data = found.name
        form.description.data = found.description
        form.source_url.data = found.source_url
        form.per_case_cap.data = found.per_case_cap_fen
        form.opens_on.data = found.opens_on
        form.closes_on.data = found.closes_on
        form.fill_rules(found.rules)
    elif form.validate_on_submit():
        if "preview" in request.form:
            preview = _preview(form)
        else:
            try:
                relief_projects.update_project(found, actor, form.service_fields())
            except ValidationFailed as error:
                apply_field_errors(form, error, ProjectForm.ALIASES)
            else:
                flash(_("Project saved. The next matching run uses the new terms."), "success")
                return redirect(url_for("relief.project", project_id=found.id))
    _every_problem(form, creating=False)
    status = 422 if form.errors else 200
    return render_template(
        "relief/project_form.html", form=form, preview=preview, project=found, charities=[], charity_id=None
    ), status


@bp.route("/projects/<int:project_id>/deposit", methods=["POST"])
@roles(*STAFF)
def deposit(project_id: int) -> Any:
    actor = current_account()
    found = relief_projects.get_project(project_id, actor)
    form = DepositForm()
    if form.validate_on_submit():
        try:
            relief_projects.deposit(found, actor, form.amount.data or 0, (form.reference.data or "").strip())
        except ValidationFailed as error:
            apply_field_errors(form, error, {"amount_fen": "amount"})
        else:
            flash(_("Deposit recorded."), "success")
            return redirect(url_for("relief.project", project_id=found.id))
    return _project_page(found, form, StatusForm(status=found.status), 422)


@bp.route("/projects/<int:project_id>/status", methods=["POST"])
@roles(*STAFF)
def project_status(project_id: int) -> Any:
    actor = current_account()
    found = relief_projects.get_project(project_id, actor)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            relief_projects.set_status(found, actor, form.status.data or "")
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Status changed."), "success")
    return redirect(url_for("relief.project", project_id=found.id))


@bp.route("/runs", methods=["GET", "POST"])
@roles(*STAFF)
def runs() -> Any:
    form = RunForm()
    if form.validate_on_submit():
        run, started = matching_runs.start_run(current_account(), dry_run=bool(form.dry_run.data))
        if not started:
            flash(_("A matching run is already under way; here is its progress."), "info")
        return redirect(url_for("relief.run", run_id=run.id))
    return render_template("relief/runs.html", form=form, runs=matching_runs.recent_runs())


@bp.route("/runs/<int:run_id>")
@roles(*STAFF)
def run(run_id: int) -> Any:
    found = matching_runs.get_run(run_id)
    changes = found.summary.get("changes", [])
    campaigns = {
        c.id: c
        for c in db.session.scalars(
            select(Campaign).where(Campaign.id.in_({c["campaign_id"] for c in changes}))
        )
    }
    projects_by_id = {
        p.id: p
        for p in db.session.scalars(
            select(ReliefProject).where(ReliefProject.id.in_({c["project_id"] for c in changes}))
        )
    }
    return render_template(
        "relief/run.html", run=found, changes=changes, campaigns=campaigns, projects=projects_by_id
    )


@bp.route("/offers", methods=["GET", "POST"])
@roles(*STAFF)
def offer_queue() -> Any:
    actor = current_account()
    status = request.args.get("status", OfferStatus.PENDING)
    if status not in {s.value for s in OfferStatus}:
        status = OfferStatus.PENDING
    form = DecisionForm()
    code = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                result = offers.decide(
                    form.offer_ids.data or [], actor, form.decision.data or "", form.note.data or ""
                )
            except ValidationFailed as error:
                apply_field_errors(form, error)
                code = 422
            else:
                if result.done:
                    flash(
                        _("%(n)d offers approved.", n=len(result.done))
                        if form.decision.data == "approve"
                        else _("%(n)d offers declined.", n=len(result.done)),
                        "success",
                    )
                for offer_id, reason in result.refused.items():
                    flash(_("Offer %(id)d: %(reason)s", id=offer_id, reason=reason), "error")
                if not result.refused:
                    return redirect(url_for("relief.offer_queue", status=status))
                code = 409
        else:
            code = 422
    page = offers.queue(actor, status=status, page=parse_page(request.args.get("page")))
    return render_template("relief/offers.html", page=page, status=status, form=form), code


@bp.route("/cases/<int:campaign_id>/why")
@roles(*STAFF)
def why(campaign_id: int) -> Any:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return render_template("relief/why.html", why=matching_why.explain(campaign))
