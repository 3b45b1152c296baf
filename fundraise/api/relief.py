"""API v1 for relief: charities' projects and their budgets, matching runs, the offers queue, a case's "why",
and (public) the approved support a campaign receives.

Views on the API blueprint (fundraise.api.routes.bp), each described for the OpenAPI document; the rules stay
in the services (fundraise.services.relief_projects, .matching_runs, .offers, .matching_why), the wording in
fundraise.matching_text. Staff see and act on their own charity's projects and offers only (the services
enforce it); admins on every charity's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import jsonify, url_for
from flask_babel import gettext as _
from marshmallow import Schema

from fundraise.access import current_account, current_user_or_none, public, roles
from fundraise.api.common import load_json, load_query, page_links
from fundraise.api.openapi import operation
from fundraise.api.relief_schemas import (
    CampaignRelief,
    MatchRunList,
    MatchRunSchema,
    MatchRunStart,
    ReliefDecided,
    ReliefDecisionInput,
    ReliefDeposit,
    ReliefMoney,
    ReliefOfferPage,
    ReliefOfferQuery,
    ReliefOfferSchema,
    ReliefPreviewSchema,
    ReliefProjectChange,
    ReliefProjectCreate,
    ReliefProjectList,
    ReliefProjectQuery,
    ReliefProjectSchema,
    ReliefRulesPreview,
    ReliefStatusChange,
    ReliefWhy,
)
from fundraise.api.routes import bp
from fundraise.errors import ValidationFailed
from fundraise.extensions import db
from fundraise.matching_text import (
    NOT_MATCHABLE,
    OFFER_STATUSES,
    PRIORITY_PARTS,
    bound_text,
    problem_fields,
    rule_check_text,
)
from fundraise.models import (
    Charity,
    MatchRun,
    Offer,
    ReliefProject,
    Role,
)
from fundraise.money import format_yuan
from fundraise.services import matching_runs, matching_why, offers, relief_projects
from fundraise.services.campaigns import get_campaign
from fundraise.services.donations import remaining_needs
from matching.rules import (
    RuleError,
)

STAFF = (Role.CHARITY_STAFF, Role.ADMIN)
TAG = "relief"

# --- helpers ---------------------------------------------------------------------------------------------


def _flat(messages: Mapping[Any, Any], prefix: str = "") -> dict[str, list[str]]:
    """A schema's nested messages as the API's flat `errors`: `rules.min_age`, and a list item's message on
    the list itself (`offer_ids`)."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = (
            prefix.removesuffix(".")
            if isinstance(key, int) or (key == "_schema" and prefix)
            else f"{prefix}{key}"
        )
        if isinstance(value, Mapping):
            found = _flat(value, f"{name}.")
        else:
            found = {name: [str(text) for text in (value if isinstance(value, list) else [value])]}
        for field, texts in found.items():
            flat.setdefault(field, []).extend(texts)
    return flat


def _rule_field(name: str) -> str:
    # A rule that sets no condition is a problem of the rule as a whole: `rules`, not `rules.rules`.
    return "rules" if name == "rules.rules" else name


@contextmanager
def _field_errors() -> Iterator[None]:
    """Field errors of a body or a service as the API reports them (see _flat and _rule_field)."""
    try:
        yield
    except ValidationFailed as error:
        renamed: dict[str, list[str]] = {}
        for field, texts in _flat(error.fields).items():
            renamed.setdefault(_rule_field(field), []).extend(texts)
        raise ValidationFailed(error.message, fields=renamed) from error


def _load(schema: Schema, *, optional: bool = False) -> dict[str, Any]:
    with _field_errors():
        return load_json(schema, optional=optional)


def _project_bodies(projects: list[ReliefProject]) -> list[dict[str, Any]]:
    money = relief_projects.money([project.id for project in projects])
    bodies = []
    for project in projects:
        body: dict[str, Any] = ReliefProjectSchema(exclude=("money",)).dump(project)
        body["money"] = ReliefMoney().dump(money[project.id])
        bodies.append(body)
    return bodies


def _project_response(project: ReliefProject, status: int = 200) -> Any:
    response = jsonify(_project_bodies([project])[0])
    response.status_code = status
    return response


def _project_terms(project: ReliefProject) -> dict[str, Any]:
    """A project's current terms, as relief_projects.update_project takes them."""
    return {
        "name": project.name,
        "description": project.description,
        "source_url": project.source_url,
        "rules": dict(project.rules or {}),
        "per_case_cap_fen": project.per_case_cap_fen,
        "opens_on": project.opens_on,
        "closes_on": project.closes_on,
    }


def _charity_for(data: dict[str, Any]) -> int | None:
    """The charity a new project is for: the staff member's own; an admin must name an existing one."""
    actor = current_account()
    chosen: int | None = data.pop("charity_id", None)
    if actor.role == Role.CHARITY_STAFF:
        if chosen is not None and chosen != actor.charity_id:
            raise ValidationFailed(
                _("Please correct the marked fields."),
                fields={"charity_id": [_("Staff create projects for their own charity only.")]},
            )
        return actor.charity_id
    if chosen is not None and db.session.get(Charity, chosen) is None:
        raise ValidationFailed(
            _("Please correct the marked fields."), fields={"charity_id": [_("No such charity.")]}
        )
    return chosen  # None: the service asks for it


def _priority(total: int, parts: Mapping[str, int]) -> dict[str, Any]:
    return {
        "total": total,
        "parts": [
            {"part": part, "label": str(PRIORITY_PARTS.get(part, part)), "points": points}
            for part, points in parts.items()
        ],
    }


PROJECT_404 = "No such relief project, or not one of the caller's charity."

# --- projects --------------------------------------------------------------------------------------------


@bp.route("/relief/projects", methods=["GET"])
@roles(*STAFF)
@operation(
    "Relief projects",
    tag=TAG,
    description="The caller's charity's projects (every charity's for an admin, or one charity's with "
    "`charity_id`), open ones first, each with its rule and its money as the ledger holds it.",
    query=ReliefProjectQuery,
    responses={200: ("The projects.", ReliefProjectList)},
)
def list_relief_projects() -> Any:
    query = load_query(ReliefProjectQuery())
    listed = relief_projects.list_projects(current_account(), charity_id=query.get("charity_id"))
    return jsonify({"items": _project_bodies(listed)})


@bp.route("/relief/projects", methods=["POST"])
@roles(*STAFF)
@operation(
    "Create a relief project",
    tag=TAG,
    description="A new open project of the caller's charity (an admin names the charity with `charity_id`), "
    "funded by its first deposit: the ledger moves `deposit_fen` from the charity's funds to the project's "
    "budget under `deposit_reference`. Every field is checked before anything is written: a rule that sets no "
    "condition, a per-case cap above the budget or a window that closes before it opens is a 422 with the "
    "messages by field (`rules`, `rules.<condition>`, `per_case_cap_fen`, `closes_on`, …).",
    body=ReliefProjectCreate,
    responses={201: ("The project; `Location` is its URL.", ReliefProjectSchema)},
)
def create_relief_project() -> Any:
    data = _load(ReliefProjectCreate())
    charity_id = _charity_for(data)
    data["deposit_reference"] = data["deposit_reference"].strip()
    with _field_errors():
        project = relief_projects.create_project(current_account(), data, charity_id=charity_id)
    response = _project_response(project, 201)
    response.headers["Location"] = url_for("api.get_relief_project", project_id=project.id, _external=True)
    return response


@bp.route("/relief/projects/preview", methods=["POST"])
@roles(*STAFF)
@operation(
    "Preview a rule",
    tag=TAG,
    description="How many current cases (verified, still in need) a rule would admit, and their remaining need "
    "together; nothing is written. A rule that does not hold together is a 422 with messages on `rules` and "
    "`rules.<condition>`.",
    body=ReliefRulesPreview,
    responses={200: ("What the rule admits now.", ReliefPreviewSchema)},
)
def preview_relief_rules() -> Any:
    data = _load(ReliefRulesPreview())
    try:
        found = relief_projects.preview(data["rules"])
    except RuleError as error:
        with _field_errors():
            raise ValidationFailed(
                _("Please correct the marked fields."), fields=problem_fields(error.problems, prefix="rules.")
            ) from error
    return ReliefPreviewSchema().dump({"cases": found.cases, "need_fen": found.need_fen})


@bp.route("/relief/projects/<int:project_id>", methods=["GET"])
@roles(*STAFF)
@operation(
    "A relief project",
    tag=TAG,
    description="Its rule, terms and money. Staff of other charities get 404, as for a project that does not "
    "exist.",
    responses={200: ("The project.", ReliefProjectSchema)},
    problems={404: PROJECT_404},
)
def get_relief_project(project_id: int) -> Any:
    return _project_response(relief_projects.get_project(project_id, current_account()))


@bp.route("/relief/projects/<int:project_id>", methods=["PATCH"])
@roles(*STAFF)
@operation(
    "Change a relief project",
    tag=TAG,
    description="Change its name, description, rule, per-case cap or window; fields left out keep their "
    "current values, and `rules`, when given, replaces the whole rule. Offers already made stand; the next run "
    "uses the new terms and withdraws pending offers whose case no longer qualifies. The budget changes only "
    "by deposits (POST …/deposits) and by closing the project.",
    body=ReliefProjectChange,
    responses={200: ("The project as changed.", ReliefProjectSchema)},
    problems={404: PROJECT_404},
)
def update_relief_project(project_id: int) -> Any:
    actor = current_account()
    project = relief_projects.get_project(project_id, actor)
    changes = _load(ReliefProjectChange())
    with _field_errors():
        relief_projects.update_project(project, actor, _project_terms(project) | changes)
    return _project_response(project)


@bp.route("/relief/projects/<int:project_id>/deposits", methods=["POST"])
@roles(*STAFF)
@operation(
    "Record a deposit",
    tag=TAG,
    description="Record the charity's bank transfer into the project's budget: the ledger moves the amount from "
    "the charity's funds to the project's budget, once per reference (a reference already recorded for the "
    "project is a 422 on `reference`). A closed project takes no deposits.",
    body=ReliefDeposit,
    responses={200: ("The project, with its money after the deposit.", ReliefProjectSchema)},
    problems={404: PROJECT_404},
)
def deposit_to_relief_project(project_id: int) -> Any:
    actor = current_account()
    project = relief_projects.get_project(project_id, actor)
    data = _load(ReliefDeposit())
    with _field_errors():
        relief_projects.deposit(project, actor, data["amount_fen"], data["reference"].strip())
    return _project_response(project)


@bp.route("/relief/projects/<int:project_id>/status", methods=["POST"])
@roles(*STAFF)
@operation(
    "Pause, reopen or close a relief project",
    tag=TAG,
    description="Pausing or closing withdraws the project's pending offers; closing also returns the budget "
    "nobody committed to the charity (approved support stands until paid). A closed project stays closed "
    "(422 on `status`).",
    body=ReliefStatusChange,
    responses={200: ("The project with its new status.", ReliefProjectSchema)},
    problems={404: PROJECT_404},
)
def set_relief_project_status(project_id: int) -> Any:
    actor = current_account()
    project = relief_projects.get_project(project_id, actor)
    data = _load(ReliefStatusChange())
    with _field_errors():
        relief_projects.set_status(project, actor, data["status"])
    return _project_response(project)


# --- matching runs ---------------------------------------------------------------------------------------


@bp.route("/relief/runs", methods=["POST"])
@roles(*STAFF)
@operation(
    "Start a matching run",
    tag=TAG,
    description="Queue a run that allocates the open projects' available budgets to the cases' remaining need "
    "and makes pending offers for staff to decide; a dry run only summarises what would change. One run at a "
    "time: while one is queued or running, the answer is that run (200) and nothing new starts. Follow the "
    "run's `url` (also in `Location`) for its progress and summary.",
    body=MatchRunStart,
    body_required=False,
    responses={
        202: ("The run, queued; `Location` is its URL.", MatchRunSchema),
        200: ("A run already under way; no new one was started.", MatchRunSchema),
    },
)
def start_match_run() -> Any:
    data = _load(MatchRunStart(), optional=True)
    run, started = matching_runs.start_run(current_account(), dry_run=data.get("dry_run", False))
    response = jsonify(MatchRunSchema().dump(run))
    response.headers["Location"] = url_for("api.get_match_run", run_id=run.id, _external=True)
    response.status_code = 202 if started else 200
    return response


@bp.route("/relief/runs", methods=["GET"])
@roles(*STAFF)
@operation(
    "Recent matching runs",
    tag=TAG,
    description="The newest runs, real and dry, newest first.",
    responses={200: ("The runs.", MatchRunList)},
)
def list_match_runs() -> Any:
    return MatchRunList().dump({"items": matching_runs.recent_runs()})


@bp.route("/relief/runs/<int:run_id>", methods=["GET"])
@roles(*STAFF)
@operation(
    "A matching run",
    tag=TAG,
    description="Its progress while it works (`status`, `stage`, `progress`), and once finished its summary: "
    "counts, totals and the changes it made to the offers (or would make, for a dry run).",
    responses={200: ("The run.", MatchRunSchema)},
    problems={404: "No such matching run."},
)
def get_match_run(run_id: int) -> Any:
    found: MatchRun = matching_runs.get_run(run_id)
    return MatchRunSchema().dump(found)


# --- offers ----------------------------------------------------------------------------------------------


@bp.route("/relief/offers", methods=["GET"])
@roles(*STAFF)
@operation(
    "The offers queue",
    tag=TAG,
    description="Offers of the caller's charity's projects (every charity's for an admin) in one status, "
    "pending by default, highest priority first, each with why it is this amount and what the case still "
    "needs now.",
    query=ReliefOfferQuery,
    responses={200: ("One page of offers.", ReliefOfferPage)},
)
def relief_offers() -> Any:
    query = load_query(ReliefOfferQuery())
    listing = offers.queue(
        current_account(), status=query["status"], page=query["page"], per_page=query["per_page"]
    )
    needs = remaining_needs({offer.campaign_id: offer.campaign for offer in listing.items}.values())
    items = ReliefOfferSchema(exclude=("remaining_need_fen", "remaining_need_yuan"), many=True).dump(
        listing.items
    )
    for item in items:
        need = needs[item["campaign_id"]]
        item.update(remaining_need_fen=need, remaining_need_yuan=format_yuan(need))
    body = page_links(
        "api.relief_offers", listing.number, listing.per_page, listing.total, status=query["status"]
    )
    body["items"] = items
    return jsonify(body)


@bp.route("/relief/offers/decisions", methods=["POST"])
@roles(*STAFF)
@operation(
    "Approve or decline offers",
    tag=TAG,
    description="Decide one offer or many. Each is checked on its own: the answer lists those decided in "
    "`done` and why each other one was not in `refused` (another charity's offer, already decided, the case "
    "now needs less than the offer, the budget no longer holds it), with status 200 either way. Approval moves "
    "the amount from the project's budget to its commitment in the ledger, and from then on it counts against "
    "the case's remaining need. Declining needs a `note` (422 without one) and keeps the pair from ever being "
    "offered again.",
    body=ReliefDecisionInput,
    responses={200: ("What was decided, and what was not and why.", ReliefDecided)},
)
def decide_relief_offers() -> Any:
    data = _load(ReliefDecisionInput())
    with _field_errors():
        result = offers.decide(data["offer_ids"], current_account(), data["decision"], data["note"])
    refused = [
        {"offer_id": offer_id, "reason": reason} for offer_id, reason in sorted(result.refused.items())
    ]
    return ReliefDecided().dump({"decision": data["decision"], "done": result.done, "refused": refused})


# --- a case ----------------------------------------------------------------------------------------------


@bp.route("/relief/cases/<int:campaign_id>/why", methods=["GET"])
@roles(*STAFF)
@operation(
    "Why a case got the support it got",
    tag=TAG,
    description="Every project considered for the case (the open ones, and any that made it an offer): each "
    "condition of its rule checked against the case as it is now, and what the newest run allocated for the "
    "pair with the constraint that bound the amount. Also the case's remaining need and priority now, and the "
    "newest run that considered it. A case that is not verified and raising money, or whose need is met, is "
    "not matched (`not_matchable` says which).",
    responses={200: ("The case's matching, explained.", ReliefWhy)},
)
def relief_case_why(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_account())
    why = matching_why.explain(campaign)
    last_run = None
    if why.run is not None and why.result is not None:
        last_run = {
            "id": why.run.id,
            "url": url_for("api.get_match_run", run_id=why.run.id, _external=True),
            "finished_at": why.run.finished_at,
            "need_fen": why.result.need_fen,
            "covered_fen": why.result.covered_fen,
            "priority": _priority(why.result.priority, why.result.priority_parts),
        }
    body = {
        "campaign_id": campaign.id,
        "campaign_title": campaign.title,
        "matchable": why.not_matchable is None,
        "not_matchable": why.not_matchable,
        "not_matchable_text": str(NOT_MATCHABLE[why.not_matchable]) if why.not_matchable else None,
        "need_fen": why.profile.need_fen if why.profile else None,
        "priority": _priority(why.priority_now.total, why.priority_now.parts) if why.priority_now else None,
        "last_run": last_run,
        "projects": [_finding(finding) for finding in why.findings],
    }
    return ReliefWhy().dump(body)


def _finding(finding: matching_why.Finding) -> dict[str, Any]:
    project = finding.project
    solved = finding.run_amount_fen is not None
    return {
        "project_id": project.id,
        "project_name": project.name,
        "project_status": project.status,
        "charity": project.charity,
        "open_today": finding.open_today,
        "eligible": finding.eligible,
        "checks": [
            {
                "rule": check.rule,
                "passed": check.passed,
                "code": check.code,
                "params": dict(check.params),
                "text": rule_check_text(check),
            }
            for check in finding.checks
        ],
        "run_amount_fen": finding.run_amount_fen,
        "bound": {
            "code": finding.bound_code,
            "params": finding.bound_params,
            "text": bound_text(finding.bound_code, finding.bound_params),
        }
        if solved and finding.bound_code
        else None,
        "offers": [_case_offer(offer) for offer in finding.offers],
    }


def _case_offer(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.id,
        "status": offer.status,
        "status_label": str(OFFER_STATUSES.get(offer.status, offer.status)),
        "amount_fen": offer.amount_fen,
        "created_at": offer.created_at,
    }


@bp.route("/campaigns/<int:campaign_id>/relief", methods=["GET"])
@public
@operation(
    "A campaign's relief support (public)",
    tag=TAG,
    description="The support charities' relief projects approved for the campaign, by project, largest first. "
    "Offers still waiting for a charity's decision are not shown.",
    responses={200: ("The approved support.", CampaignRelief)},
)
def campaign_relief(campaign_id: int) -> Any:
    campaign = get_campaign(campaign_id, current_user_or_none())
    support = offers.support_for(campaign, include_pending=False)
    items = [
        {"charity": item.charity, "project": item.project_name, "amount_fen": item.amount_fen}
        for item in support
    ]
    return CampaignRelief().dump(
        {"campaign_id": campaign.id, "total_fen": sum(item.amount_fen for item in support), "items": items}
    )
