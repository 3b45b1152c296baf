"""The request and response schemas of the relief API (fundraise/api/relief.py), for the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import url_for
from marshmallow import EXCLUDE, RAISE, Schema, fields, pre_dump, validate

from fundraise.api.schemas import MAX_PER_PAGE, Fen, StrictBoolean, StrictInteger, Yuan
from fundraise.i18n import locale_name
from fundraise.matching_text import (
    NOT_MATCHABLE,
    OFFER_STATUSES,
    PROJECT_STATUSES,
    RUN_STAGES,
    RUN_STATUSES,
    WITHDRAWN,
    bound_text,
    rule_summary,
)
from fundraise.models import (
    OfferStatus,
    ProjectStatus,
    RunStatus,
)
from fundraise.pagination import MAX_PAGE
from fundraise.services import matching_runs, offers, relief_projects
from matching.rules import (
    ASSISTANCE_CLASSES,
    HOSPITAL_TIERS,
    MAX_AGE,
    RULE_FIELDS,
    RuleError,
    Rules,
    rules_from_dict,
    rules_to_dict,
)

Accessor = Callable[[Any, str, Any], Any]
# How many offers one decision may name: a full page of the queue and then some.
MAX_DECIDED = 500


# --- schemas: requests -----------------------------------------------------------------------------------


class ReliefRulesInput(Schema):
    """Whom a project serves (matching/rules.py). Every condition given must hold, except the two diagnosis
    conditions, of which either may match; a condition left out (or an empty list) is not looked at, and a
    rule must set at least one. Values are checked by the rule itself: bad ones come back as 422 errors on
    `rules.<condition>`."""

    class Meta:
        unknown = RAISE

    icd10_prefixes = fields.List(
        fields.String(),
        metadata={"description": "ICD-10 prefixes such as C91, Q2 or C91.0.", "example": ["C91"]},
    )
    disease_categories = fields.List(
        fields.String(),
        metadata={"description": "Disease categories of the catalogue.", "example": ["leukemia"]},
    )
    min_age = StrictInteger(allow_none=True, metadata={"description": "Youngest age in whole years."})
    max_age = StrictInteger(
        allow_none=True, metadata={"description": f"Oldest age in whole years (at most {MAX_AGE})."}
    )
    region_prefixes = fields.List(
        fields.String(),
        metadata={
            "description": "Region-code prefixes of 2, 4 or 6 digits: `34` is Anhui.",
            "example": ["34"],
        },
    )
    assistance_classes = fields.List(
        fields.String(metadata={"enum": list(ASSISTANCE_CLASSES)}),
        metadata={"description": "Civil-affairs assistance classes (from the records on file)."},
    )
    max_income_per_capita_fen = Fen(
        allow_none=True, metadata={"description": "Highest yearly household income per person, in fen."}
    )
    hospital_tiers = fields.List(fields.String(metadata={"enum": list(HOSPITAL_TIERS)}))


class ReliefProjectCreate(Schema):
    """A new project of the caller's charity, funded by its first deposit (the charity's bank transfer)."""

    class Meta:
        unknown = RAISE

    name = fields.String(
        required=True,
        validate=validate.Length(max=relief_projects.NAME_MAX),
        metadata={"example": "白血病儿童救助"},
    )
    description = fields.String(
        load_default="", validate=validate.Length(max=relief_projects.DESCRIPTION_MAX)
    )
    source_url = fields.String(
        load_default="",
        validate=validate.Length(max=255),
        metadata={"description": "Where the programme is described (the charity's own page)."},
    )
    rules = fields.Nested(ReliefRulesInput, required=True)
    per_case_cap_fen = Fen(
        required=True, metadata={"description": "The most one case may receive, in fen; at most the budget."}
    )
    deposit_fen = Fen(
        required=True, metadata={"description": "The first deposit: the project's budget, in fen."}
    )
    deposit_reference = fields.String(
        required=True,
        validate=validate.Length(max=64),
        metadata={
            "description": "The bank transfer's reference (letters, digits, dashes).",
            "example": "BOC-20261201-01",
        },
    )
    opens_on = fields.Date(allow_none=True, metadata={"description": "First day runs may offer its budget."})
    closes_on = fields.Date(allow_none=True, metadata={"description": "Last day; not before `opens_on`."})
    charity_id = StrictInteger(
        validate=validate.Range(min=1),
        metadata={
            "description": "Admins: the charity the project is for (required). Staff: their own, if given."
        },
    )


class ReliefProjectChange(Schema):
    """The terms to change; what is left out stays as it is. `rules`, when given, replaces the whole rule.
    Offers already made stand; the next run uses the new terms."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(max=relief_projects.NAME_MAX))
    description = fields.String(validate=validate.Length(max=relief_projects.DESCRIPTION_MAX))
    source_url = fields.String(validate=validate.Length(max=255))
    rules = fields.Nested(ReliefRulesInput)
    per_case_cap_fen = Fen()
    opens_on = fields.Date(allow_none=True)
    closes_on = fields.Date(allow_none=True)


class ReliefDeposit(Schema):
    class Meta:
        unknown = RAISE

    amount_fen = Fen(
        required=True, metadata={"description": "More than zero, in fen.", "example": 10_000_000}
    )
    reference = fields.String(
        required=True,
        validate=validate.Length(max=64),
        metadata={
            "description": "The bank transfer's reference; each is recorded once.",
            "example": "BOC-20261215-07",
        },
    )


class ReliefStatusChange(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(
        required=True,
        validate=validate.OneOf([str(status) for status in ProjectStatus]),
        metadata={
            "description": "paused: no new offers, pending ones withdrawn; closed: for good, the budget nobody "
            "committed goes back to the charity; open: reopen a paused project."
        },
    )


class ReliefRulesPreview(Schema):
    class Meta:
        unknown = RAISE

    rules = fields.Nested(ReliefRulesInput, required=True)


class MatchRunStart(Schema):
    class Meta:
        unknown = RAISE

    dry_run = StrictBoolean(
        load_default=False,
        metadata={
            "description": "Work out and summarise what would change, without making or withdrawing offers."
        },
    )


class ReliefProjectQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    charity_id = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "Admins: only this charity's projects."}
    )


class ReliefOfferQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(
        load_default=str(OfferStatus.PENDING),
        validate=validate.OneOf([str(status) for status in OfferStatus]),
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class ReliefDecisionInput(Schema):
    class Meta:
        unknown = RAISE

    offer_ids = fields.List(
        StrictInteger(validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(max=MAX_DECIDED),
        metadata={"description": f"The offers to decide (at least one, at most {MAX_DECIDED})."},
    )
    decision = fields.String(required=True, validate=validate.OneOf(offers.DECISIONS))
    note = fields.String(
        load_default="",
        validate=validate.Length(max=offers.NOTE_MAX),
        metadata={"description": "Required to decline: the family and the other charities' staff read it."},
    )


# --- schemas: responses ----------------------------------------------------------------------------------


class _Paged(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    next = fields.String(allow_none=True, metadata={"description": "The next page, or null on the last."})
    prev = fields.String(
        allow_none=True, metadata={"description": "The previous page, or null on the first."}
    )


class ReliefCharity(Schema):
    id = fields.Integer()
    code = fields.String(metadata={"example": "CH001"})
    name_zh = fields.String()
    name_en = fields.String()
    name = fields.Function(
        lambda charity: charity.name(locale_name()),
        metadata={"type": "string", "description": "The name in the caller's language."},
    )


class ReliefRules(Schema):
    """A project's rule with every condition listed: an empty list or null is a condition not looked at."""

    @pre_dump
    def every_condition(self, stored: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The stored rule with every condition present, as matching.rules_to_dict writes it."""
        try:
            return dict(rules_to_dict(rules_from_dict(stored)))
        except RuleError:
            # Rules are checked when saved; one that no longer reads (an older format) shows what it can.
            return {**rules_to_dict(Rules()), **{k: v for k, v in stored.items() if k in RULE_FIELDS}}

    icd10_prefixes = fields.List(fields.String())
    disease_categories = fields.List(fields.String())
    min_age = fields.Integer(allow_none=True)
    max_age = fields.Integer(allow_none=True)
    region_prefixes = fields.List(fields.String())
    assistance_classes = fields.List(fields.String())
    max_income_per_capita_fen = Fen(allow_none=True)
    max_income_per_capita_yuan = Yuan("max_income_per_capita_fen", allow_none=True)
    hospital_tiers = fields.List(fields.String())


class ReliefMoney(Schema):
    """A project's money as the ledger holds it."""

    budget_fen = Fen(metadata={"description": "Unallocated budget: deposited, less committed and returned."})
    budget_yuan = Yuan("budget_fen")
    committed_fen = Fen(metadata={"description": "Approved offers, not yet paid to a hospital."})
    committed_yuan = Yuan("committed_fen")
    pending_fen = Fen(metadata={"description": "Held out of the budget by offers waiting for staff."})
    pending_yuan = Yuan("pending_fen")
    available_fen = Fen(
        metadata={"description": "What the next run may offer: the budget less what is pending."}
    )
    available_yuan = Yuan("available_fen")


class ReliefProjectSchema(Schema):
    """A project. `money` is added by the view (fundraise.services.relief_projects.money)."""

    id = fields.Integer()
    url = fields.Function(
        lambda project: url_for("api.get_relief_project", project_id=project.id, _external=True),
        metadata={"type": "string", "description": "This project in the API."},
    )
    charity = fields.Nested(ReliefCharity)
    name = fields.String()
    description = fields.String()
    source_url = fields.String()
    status = fields.String(validate=validate.OneOf([str(status) for status in ProjectStatus]))
    status_label = fields.Function(
        lambda project: str(PROJECT_STATUSES.get(project.status, project.status)), metadata={"type": "string"}
    )
    rules = fields.Nested(ReliefRules)
    rule_summary = fields.Function(
        lambda project: rule_summary(project.rules),
        metadata={"type": "array", "items": {"type": "string"}, "description": "The rule in plain words."},
    )
    per_case_cap_fen = Fen()
    per_case_cap_yuan = Yuan("per_case_cap_fen")
    opens_on = fields.Date(allow_none=True)
    closes_on = fields.Date(allow_none=True)
    money = fields.Nested(ReliefMoney)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ReliefProjectList(Schema):
    items = fields.List(fields.Nested(ReliefProjectSchema))


class ReliefPreviewSchema(Schema):
    cases = fields.Integer(
        metadata={"description": "Current cases the rule admits (verified, still in need)."}
    )
    need_fen = Fen(metadata={"description": "Their remaining need together."})
    need_yuan = Yuan("need_fen")


class MatchRunChange(Schema):
    """One change a run made (or, for a dry run, would make) to the offers."""

    @pre_dump
    def with_reason(self, change: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        reason = change.get("reason")
        return {
            **change,
            "reason": reason,
            "reason_text": str(WITHDRAWN.get(reason, reason)) if reason else None,
        }

    change = fields.String(validate=validate.OneOf(("new", "withdrawn", "expired")))
    reason = fields.String(allow_none=True, metadata={"description": "Why an offer was withdrawn (a code)."})
    reason_text = fields.String(allow_none=True)
    campaign_id = fields.Integer()
    project_id = fields.Integer()
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")


class MatchRunSummary(Schema):
    cases = fields.Integer(metadata={"description": "Cases that could receive support (verified, in need)."})
    cases_with_projects = fields.Integer(metadata={"description": "Of them, those some open project admits."})
    projects = fields.Integer(metadata={"description": "Open projects whose budgets were allocated."})
    pairs = fields.Integer(metadata={"description": "Eligible case-project pairs."})
    offers_new = fields.Integer()
    offered_fen = Fen()
    offered_yuan = Yuan("offered_fen")
    offers_kept = fields.Integer(metadata={"description": "Pending offers left as they were."})
    offers_withdrawn = fields.Integer()
    offers_expired = fields.Integer()
    objective = fields.Integer(metadata={"description": "The priority-weighted need the allocation covers."})
    solve_ms = fields.Integer()
    total_ms = fields.Integer()
    changes = fields.List(
        fields.Nested(MatchRunChange),
        metadata={"description": f"The first {matching_runs.CHANGES_SHOWN} changes; the counts are whole."},
    )


class _SummaryField(fields.Nested):
    """A run's stored summary, or null while the run has not finished (its summary is still empty)."""

    def serialize(self, attr: str, obj: Any, accessor: Accessor | None = None, **kwargs: Any) -> Any:
        if not self.get_value(obj, self.attribute or attr, accessor=accessor):
            return None
        return super().serialize(attr, obj, accessor, **kwargs)


class MatchRunSchema(Schema):
    id = fields.Integer()
    url = fields.Function(
        lambda run: url_for("api.get_match_run", run_id=run.id, _external=True), metadata={"type": "string"}
    )
    dry_run = fields.Boolean()
    status = fields.String(validate=validate.OneOf([str(status) for status in RunStatus]))
    status_label = fields.Function(
        lambda run: str(RUN_STATUSES.get(run.status, run.status)), metadata={"type": "string"}
    )
    progress = fields.Integer(metadata={"description": "0 to 100."})
    stage = fields.String(metadata={"example": "solving"})
    stage_label = fields.Function(
        lambda run: str(RUN_STAGES.get(run.stage, run.stage)), metadata={"type": "string"}
    )
    summary = _SummaryField(
        MatchRunSummary,
        allow_none=True,
        metadata={"description": "What the run did; null until it has finished."},
    )
    error = fields.String(metadata={"description": "Why a failed run failed; empty otherwise."})
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class MatchRunList(Schema):
    items = fields.List(
        fields.Nested(MatchRunSchema), metadata={"description": "The newest runs, newest first."}
    )


class ReliefOfferSchema(Schema):
    id = fields.Integer()
    status = fields.String(validate=validate.OneOf([str(status) for status in OfferStatus]))
    status_label = fields.Function(
        lambda offer: str(OFFER_STATUSES.get(offer.status, offer.status)), metadata={"type": "string"}
    )
    project_id = fields.Integer()
    project_name = fields.Function(lambda offer: offer.project.name, metadata={"type": "string"})
    campaign_id = fields.Integer()
    campaign_title = fields.Function(lambda offer: offer.campaign.title, metadata={"type": "string"})
    campaign_url = fields.Function(
        lambda offer: url_for("api.get_campaign", campaign_id=offer.campaign_id, _external=True),
        metadata={"type": "string"},
    )
    why_url = fields.Function(
        lambda offer: url_for("api.relief_case_why", campaign_id=offer.campaign_id, _external=True),
        metadata={"type": "string", "description": "Why the case got this offer (GET …/why)."},
    )
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")
    remaining_need_fen = Fen(metadata={"description": "What the case still needs now (approvals count)."})
    remaining_need_yuan = Yuan("remaining_need_fen")
    priority = fields.Integer(metadata={"description": "The case's priority when offered; higher first."})
    bound_code = fields.String(
        metadata={"description": "Why this amount and not more.", "example": "per_case_cap"}
    )
    bound_params = fields.Dict(keys=fields.String())
    bound_text = fields.Function(
        lambda offer: bound_text(offer.bound_code, offer.bound_params), metadata={"type": "string"}
    )
    created_at = fields.DateTime()
    expires_at = fields.DateTime(metadata={"description": "A pending offer nobody decided by then expires."})
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String()
    withdrawn_reason = fields.String(allow_none=True)
    withdrawn_text = fields.Function(
        lambda offer: (
            str(WITHDRAWN.get(offer.withdrawn_reason, offer.withdrawn_reason))
            if offer.withdrawn_reason
            else None
        ),
        metadata={"type": ["string", "null"]},
    )


class ReliefOfferPage(_Paged):
    items = fields.List(fields.Nested(ReliefOfferSchema), metadata={"description": "Highest priority first."})


class ReliefRefusal(Schema):
    offer_id = fields.Integer()
    reason = fields.String(metadata={"description": "Why this offer was not decided, in plain words."})


class ReliefDecided(Schema):
    decision = fields.String(validate=validate.OneOf(offers.DECISIONS))
    done = fields.List(fields.Integer(), metadata={"description": "The offers decided."})
    refused = fields.List(
        fields.Nested(ReliefRefusal), metadata={"description": "The others, each with why."}
    )


class ReliefCheckSchema(Schema):
    rule = fields.String(metadata={"example": "age"})
    passed = fields.Boolean()
    code = fields.String(metadata={"example": "age_in_range"})
    params = fields.Dict(keys=fields.String())
    text = fields.String(metadata={"description": "The check in plain words, in the caller's language."})


class ReliefBoundSchema(Schema):
    code = fields.String(metadata={"example": "per_case_cap"})
    params = fields.Dict(keys=fields.String())
    text = fields.String()


class ReliefPriorityPart(Schema):
    part = fields.String(metadata={"example": "urgency"})
    label = fields.String()
    points = fields.Integer()


class ReliefPrioritySchema(Schema):
    total = fields.Integer()
    parts = fields.List(fields.Nested(ReliefPriorityPart))


class ReliefCaseOffer(Schema):
    id = fields.Integer()
    status = fields.String(validate=validate.OneOf([str(status) for status in OfferStatus]))
    status_label = fields.String()
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")
    created_at = fields.DateTime()


class ReliefFinding(Schema):
    """One project as considered for the case."""

    project_id = fields.Integer()
    project_name = fields.String()
    project_status = fields.String(validate=validate.OneOf([str(status) for status in ProjectStatus]))
    charity = fields.Nested(ReliefCharity)
    open_today = fields.Boolean()
    eligible = fields.Boolean(metadata={"description": "Every condition of the rule holds for the case now."})
    checks = fields.List(
        fields.Nested(ReliefCheckSchema),
        metadata={
            "description": "Each condition of the rule against the case now; empty when not matchable."
        },
    )
    run_amount_fen = Fen(
        allow_none=True,
        metadata={"description": "What the last run allocated for this pair; null: not solved."},
    )
    run_amount_yuan = Yuan("run_amount_fen", allow_none=True)
    bound = fields.Nested(
        ReliefBoundSchema,
        allow_none=True,
        metadata={"description": "What bound the run's amount; null: not solved."},
    )
    offers = fields.List(
        fields.Nested(ReliefCaseOffer), metadata={"description": "The pair's offers, newest first."}
    )


class ReliefLastRun(Schema):
    id = fields.Integer()
    url = fields.String()
    finished_at = fields.DateTime(allow_none=True)
    need_fen = Fen(metadata={"description": "The case's need as that run saw it."})
    need_yuan = Yuan("need_fen")
    covered_fen = Fen(metadata={"description": "What that run allocated to the case in all."})
    covered_yuan = Yuan("covered_fen")
    priority = fields.Nested(ReliefPrioritySchema)


class ReliefWhy(Schema):
    campaign_id = fields.Integer()
    campaign_title = fields.String()
    matchable = fields.Boolean(metadata={"description": "Whether runs consider the case now."})
    not_matchable = fields.String(
        allow_none=True, validate=validate.OneOf(tuple(NOT_MATCHABLE)), metadata={"description": "Why not."}
    )
    not_matchable_text = fields.String(allow_none=True)
    need_fen = Fen(
        allow_none=True, metadata={"description": "The remaining need now; null when not matchable."}
    )
    need_yuan = Yuan("need_fen", allow_none=True)
    priority = fields.Nested(
        ReliefPrioritySchema, allow_none=True, metadata={"description": "The case's priority now."}
    )
    last_run = fields.Nested(
        ReliefLastRun, allow_none=True, metadata={"description": "The newest run that considered the case."}
    )
    projects = fields.List(fields.Nested(ReliefFinding), metadata={"description": "Eligible projects first."})


class CampaignReliefItem(Schema):
    charity = fields.Nested(ReliefCharity)
    project = fields.String(metadata={"description": "The relief project's name."})
    amount_fen = Fen()
    amount_yuan = Yuan("amount_fen")


class CampaignRelief(Schema):
    campaign_id = fields.Integer()
    total_fen = Fen(metadata={"description": "Approved support in all."})
    total_yuan = Yuan("total_fen")
    items = fields.List(fields.Nested(CampaignReliefItem), metadata={"description": "Largest first."})
