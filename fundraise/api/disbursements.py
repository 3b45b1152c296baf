"""API v1 for payouts (DESIGN §5, Payout): a campaign's disbursements and use of funds, requesting one with
its bill, the decisions on it, the staff queue, hospitals' settlement accounts and what a gift paid for.

Views on the API blueprint (fundraise.api.routes.bp), each described for the OpenAPI document; every rule of
who may act, when and on what stays in the services (fundraise.services.disbursements, .settlement_accounts,
.gift_allocations), whose refusals become problem documents.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from fundraise.access import (
    can_see_private,
    current_account,
    current_user_or_none,
    is_staff,
    public,
    roles,
    signed_in,
)
from fundraise.api.common import MalformedRequest, UnsupportedMediaType, load_json, load_query
from fundraise.api.disbursement_schemas import (
    CampaignDisbursements,
    DisbursementNote,
    DisbursementPayment,
    DisbursementQueue,
    DisbursementQueueQuery,
    DisbursementRequestForm,
    DisbursementSchema,
    GiftUses,
    SettlementAccountInput,
    SettlementAccountList,
    SettlementAccountSchema,
    UseOfFundsSchema,
    disbursement_body,
)
from fundraise.api.openapi import operation
from fundraise.api.routes import bp
from fundraise.errors import NotFound, ValidationFailed
from fundraise.extensions import db
from fundraise.models import (
    Disbursement,
    Donation,
    Hospital,
    Role,
    SettlementAccount,
    SettlementStatus,
    User,
)
from fundraise.services import disbursement_funds, disbursements, gift_allocations, settlement_accounts
from fundraise.services import documents as document_service
from fundraise.services.campaigns import get_campaign
from fundraise.services.disbursements import RequestForm
from fundraise.services.donations.checkout import caller_key

TAG = "disbursements"
REQUESTERS = (Role.FAMILY, Role.SOCIAL_WORKER, Role.CHARITY_STAFF, Role.ADMIN)
STAFF = (Role.CHARITY_STAFF, Role.ADMIN)
# The service's field names for a request, as this API names them.
REQUEST_FIELDS = {"amount": "amount_fen", "bill_total": "bill_total_fen", "request_key": "Idempotency-Key"}
IDEMPOTENCY_KEY = {
    "Idempotency-Key": {
        "required": True,
        "description": "8 to 64 characters of your choosing, new for each request: a retry with the same key "
        "answers the disbursement already requested (200) instead of requesting it twice.",
        "schema": {"type": "string", "minLength": 8, "maxLength": 64, "pattern": "^[\\x21-\\x7e]+$"},
    }
}
DISBURSEMENT_404 = "No such disbursement, or not one the caller may see."
PROBLEMS = {
    403: "This caller may not take this decision (the service says why: the requester, an approver, not "
    "finance, another charity).",
    404: DISBURSEMENT_404,
    409: "The disbursement's state does not allow it now (notice running, held, frozen, already decided).",
}


# --- helpers -------------------------------------------------------------------------------------------


def _visible(disbursement_id: int, user: User | None) -> Disbursement:
    """A disbursement with its private part, for those who see the campaign's private part; 404 otherwise."""
    disbursement = db.session.get(Disbursement, disbursement_id)
    if disbursement is None or not can_see_private(user, disbursement.campaign):
        raise NotFound(_("No such disbursement."))
    return disbursement


def _bodies(rows: list[Disbursement], *, private: bool) -> list[dict[str, Any]]:
    held = disbursements.held_ids([d.id for d in rows])
    return [disbursement_body(d, held=d.id in held, private=private) for d in rows]


def _response(disbursement: Disbursement, status: int = 200) -> Any:
    response = jsonify(_bodies([disbursement], private=True)[0])
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for(
            "api.get_disbursement", disbursement_id=disbursement.id, _external=True
        )
    return response


def _renamed(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    return {REQUEST_FIELDS.get(name, name): [str(m) for m in messages] for name, messages in fields.items()}


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise MalformedRequest(
            _("Send an Idempotency-Key header (8 to 64 characters), new for each disbursement you request.")
        )
    if not 8 <= len(key) <= 64 or not all("!" <= char <= "~" for char in key):
        raise MalformedRequest(
            _(
                "The Idempotency-Key header must be 8 to 64 letters, digits or punctuation marks, without spaces."
            )
        )
    return key


def _read_form(request_key: str) -> tuple[RequestForm, dict[str, list[str]]]:
    """The form's fields as the service takes them, and the schema's refusals by field."""
    # An HTML form sends an optional field left empty as "": the same as leaving it out.
    sent = {name: value for name, value in request.form.to_dict().items() if value.strip() != ""}
    errors: dict[str, list[str]] = {}
    try:
        data = DisbursementRequestForm(exclude=("bill",)).load(sent)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        errors = {str(name): [str(m) for m in texts] for name, texts in messages.items()}
        data = {name: value for name, value in cast(dict[str, Any], error.valid_data or {}).items()}
    form = RequestForm(
        source=str(data.get("source", "")),
        amount_fen=data.get("amount_fen"),
        bill_total_fen=data.get("bill_total_fen"),
        purpose=str(data.get("purpose", "")),
        request_key=request_key,
        offer_id=data.get("offer_id"),
        hospital_id=data.get("hospital_id"),
    )
    return form, errors


# --- a campaign's disbursements ------------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>/disbursements", methods=["GET"])
@public
@operation(
    "A campaign's disbursements and use of funds",
    tag=TAG,
    description="Payments to the treating hospital, newest first, from the moment they are requested (a "
    "request is shown publicly during its notice period so anyone can object), and the campaign's money in "
    "five numbers. Rejected and cancelled requests, who asked, approved and paid, and the bill are shown "
    "only to the applicant side, charity staff and civil-affairs officers of the patient's region (in "
    "`private`).",
    responses={200: ("The disbursements and use of funds.", CampaignDisbursements)},
)
def campaign_disbursements(campaign_id: int) -> Any:
    user = current_user_or_none()
    campaign = get_campaign(campaign_id, user)
    private = can_see_private(user, campaign)
    rows = disbursement_funds.for_campaign(campaign.id)
    if not private:
        rows = [d for d in rows if disbursement_funds.visible_to_public(d)]
    # Items are dumped one by one (each with its phase); the whole is the CampaignDisbursements schema.
    return jsonify(
        {
            "campaign_id": campaign.id,
            "frozen_reason": disbursements.frozen_reason(campaign),
            "use_of_funds": UseOfFundsSchema().dump(disbursement_funds.use_of_funds(campaign.id)),
            "items": _bodies(rows, private=private),
        }
    )


@bp.route("/campaigns/<int:campaign_id>/disbursements", methods=["POST"])
@roles(*REQUESTERS)
@operation(
    "Request a disbursement",
    tag=TAG,
    description="The family, their social worker or charity staff ask for a payment to the campaign's "
    "treating hospital against its bill, from the campaign fund or an approved relief offer. Every field is "
    "checked before the bill is read and nothing is written unless all are valid: an amount above the bill "
    "or above what the source holds now (requests waiting for approval count against it), another hospital, "
    "a bill that is not a PDF or image are 422s with messages by field. The request is then shown publicly "
    "for DISBURSEMENT_NOTICE_HOURS before charity staff other than the requester may approve it; from "
    "DISBURSEMENT_TWO_APPROVERS_FROM_FEN it needs two approvers. Send an `Idempotency-Key` header: a retry "
    "with the same key answers the same disbursement (200).",
    body=DisbursementRequestForm,
    body_media="multipart/form-data",
    headers=IDEMPOTENCY_KEY,
    responses={
        201: ("The disbursement requested; `Location` is its URL.", DisbursementSchema),
        200: ("The disbursement this Idempotency-Key already requested.", DisbursementSchema),
    },
    problems={
        400: "No `Idempotency-Key` header (or not 8 to 64 characters without spaces), malformed input, or "
        "(session callers) a missing CSRF token.",
        403: "Not the campaign's applicant side or charity staff.",
        409: "The campaign is not raising money or closed, or its disbursements are frozen (a report under "
        "investigation, suspension).",
    },
)
def request_disbursement(campaign_id: int) -> Any:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            _("Send the request as multipart/form-data with the bill in the field bill.")
        )
    key = _idempotency_key()
    actor = current_account()
    campaign = get_campaign(campaign_id, actor)
    request_key = caller_key(key, actor, None)
    form, errors = _read_form(request_key)
    if existing := disbursements.find_by_key(request_key):
        if existing.campaign_id != campaign.id or (
            form.amount_fen is not None and form.amount_fen != existing.amount_fen
        ):
            message = _("This Idempotency-Key was already used for a different disbursement.")
            raise ValidationFailed(message, fields={"Idempotency-Key": [message]})
        return _response(existing, 200)

    for name, messages in _renamed(disbursements.check_request(campaign, actor, form)).items():
        errors.setdefault(name, messages)  # the schema's message, when it has one, says it better
    upload = request.files.get("bill")
    sent = sum(1 for _name, storage in request.files.items(multi=True) if storage.filename)
    if upload is None or not upload.filename:
        errors.setdefault("bill", [_("Attach the hospital's bill or invoice (a PDF or a photo).")])
    elif sent > 1:
        errors["bill"] = [_("Send one file per request; this request sent %(count)d.", count=sent)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)
    assert upload is not None
    received = document_service.read_upload(cast(BinaryIO, upload.stream), upload.filename or "bill", "bill")
    bill = document_service.prepare_for(campaign, actor, [("bill", received)])
    try:
        disbursement = disbursements.request(campaign, actor, form, bill)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, fields=_renamed(error.fields)) from error
    return _response(disbursement, 201)


# --- one disbursement ----------------------------------------------------------------------------------


@bp.route("/disbursements/<int:disbursement_id>", methods=["GET"])
@signed_in
@operation(
    "A disbursement",
    tag=TAG,
    description="With its private part: who asked, who approved and paid, the reasons given, the bill. For "
    "the applicant side, charity staff and civil-affairs officers of the patient's region; 404 for others.",
    responses={200: ("The disbursement.", DisbursementSchema)},
    problems={404: DISBURSEMENT_404},
)
def get_disbursement(disbursement_id: int) -> Any:
    return _response(_visible(disbursement_id, current_account()))


@bp.route("/disbursements/<int:disbursement_id>/approve", methods=["POST"])
@roles(*STAFF)
@operation(
    "Approve a disbursement",
    tag=TAG,
    description="By staff of the charity responsible for the money (the custodian charity for the campaign "
    "fund, the project's charity for a relief offer), after the notice period, never the requester, and from "
    "DISBURSEMENT_TWO_APPROVERS_FROM_FEN two different people. The last approval needed reserves the money; "
    "if the source no longer holds it, nothing is approved (409). The note is optional.",
    body=DisbursementNote,
    body_required=False,
    responses={200: ("The disbursement after the approval.", DisbursementSchema)},
    problems=PROBLEMS,
)
def approve_disbursement(disbursement_id: int) -> Any:
    actor = current_account()
    disbursement = _visible(disbursement_id, actor)
    data = load_json(DisbursementNote(), optional=True)
    return _response(disbursements.approve(disbursement.id, actor, data.get("note", "")))


@bp.route("/disbursements/<int:disbursement_id>/reject", methods=["POST"])
@roles(*STAFF)
@operation(
    "Reject a disbursement",
    tag=TAG,
    description="A request not yet approved, by staff of the responsible charity other than the requester, "
    "with a `note` the requester reads (422 without one). Rejection is final.",
    body=DisbursementNote,
    responses={200: ("The rejected disbursement.", DisbursementSchema)},
    problems=PROBLEMS,
)
def reject_disbursement(disbursement_id: int) -> Any:
    actor = current_account()
    disbursement = _visible(disbursement_id, actor)
    data = load_json(DisbursementNote())
    return _response(disbursements.reject(disbursement.id, actor, data["note"]))


@bp.route("/disbursements/<int:disbursement_id>/cancel", methods=["POST"])
@roles(*REQUESTERS)
@operation(
    "Cancel a disbursement",
    tag=TAG,
    description="Its requester withdraws a request not yet approved; staff of the responsible charity may "
    "also stop an approved one before it is paid, and its reserved money goes back to its source. A `note` "
    "saying why is required (422 without one).",
    body=DisbursementNote,
    responses={200: ("The cancelled disbursement.", DisbursementSchema)},
    problems=PROBLEMS,
)
def cancel_disbursement(disbursement_id: int) -> Any:
    actor = current_account()
    disbursement = _visible(disbursement_id, actor)
    data = load_json(DisbursementNote())
    return _response(disbursements.cancel(disbursement.id, actor, data["note"]))


@bp.route("/disbursements/<int:disbursement_id>/payment", methods=["POST"])
@roles(*STAFF)
@operation(
    "Record a disbursement's bank transfer",
    tag=TAG,
    description="A finance member of the responsible charity who approved nothing on it records the bank "
    "transfer's reference: the payout is posted once, to the hospital's confirmed settlement account, and "
    "the gifts it used are allocated first in, first out. The same reference again answers the payment "
    "already recorded; another reference for a paid disbursement is a 409.",
    body=DisbursementPayment,
    responses={200: ("The paid disbursement.", DisbursementSchema)},
    problems=PROBLEMS,
)
def pay_disbursement(disbursement_id: int) -> Any:
    actor = current_account()
    disbursement = _visible(disbursement_id, actor)
    data = load_json(DisbursementPayment())
    return _response(disbursements.record_payment(disbursement.id, actor, data["reference"]))


@bp.route("/disbursements", methods=["GET"])
@roles(*STAFF)
@operation(
    "The disbursements queue",
    tag=TAG,
    description="The disbursements the caller's charity is responsible for (every charity's for an admin), "
    "by tab, earliest end of notice first; at most 500.",
    query=DisbursementQueueQuery,
    responses={200: ("The tab's disbursements.", DisbursementQueue)},
)
def disbursement_queue() -> Any:
    query = load_query(DisbursementQueueQuery())
    rows = disbursement_funds.queue(current_account(), query["tab"])
    return jsonify({"tab": query["tab"], "items": _bodies(rows, private=True)})


# --- settlement accounts -------------------------------------------------------------------------------


def _account_response(row: SettlementAccount, status: int = 200) -> Any:
    response = jsonify(SettlementAccountSchema().dump(row))
    response.status_code = status
    return response


@bp.route("/hospitals/<int:hospital_id>/settlement-accounts", methods=["GET"])
@roles(Role.ADMIN)
@operation(
    "A hospital's settlement accounts",
    tag=TAG,
    description="Its confirmed account and the change waiting for a second admin, account numbers masked. "
    "While a change is pending the hospital is paid nothing.",
    responses={200: ("The hospital's accounts.", SettlementAccountList)},
    problems={404: "No such hospital."},
)
def hospital_settlement_accounts(hospital_id: int) -> Any:
    hospital = db.session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(_("No such hospital."))
    rows = db.session.scalars(
        select(SettlementAccount)
        .where(
            SettlementAccount.hospital_id == hospital.id,
            SettlementAccount.status.in_([SettlementStatus.CONFIRMED, SettlementStatus.PENDING]),
        )
        .order_by(SettlementAccount.id)
    ).all()
    return SettlementAccountList().dump(
        {
            "hospital": hospital,
            "payable": settlement_accounts.payable_account(hospital.id) is not None,
            "items": rows,
        }
    )


@bp.route("/hospitals/<int:hospital_id>/settlement-accounts", methods=["POST"])
@roles(Role.ADMIN)
@operation(
    "Enter a hospital's settlement account",
    tag=TAG,
    description="A new account, or a change to the confirmed one: pending until a different admin confirms "
    "it, and until then the hospital is paid nothing. One change at a time (409 while one is pending).",
    body=SettlementAccountInput,
    responses={201: ("The pending account.", SettlementAccountSchema)},
    problems={404: "No such hospital.", 409: "A change to this hospital's account already waits."},
)
def propose_settlement_account(hospital_id: int) -> Any:
    data = load_json(SettlementAccountInput())
    row = settlement_accounts.propose(hospital_id, current_account(), **data)
    return _account_response(row, 201)


@bp.route("/settlement-accounts/<int:account_id>/confirm", methods=["POST"])
@roles(Role.ADMIN)
@operation(
    "Confirm a settlement account",
    tag=TAG,
    description="A second admin, not the one who entered it, confirms a pending account; the account it "
    "replaces is kept as replaced. No body is needed.",
    responses={200: ("The confirmed account.", SettlementAccountSchema)},
    problems={
        403: "The caller entered this account; another admin must confirm it.",
        404: "No such settlement account.",
        409: "The account is not waiting for confirmation.",
    },
)
def confirm_settlement_account(account_id: int) -> Any:
    return _account_response(settlement_accounts.confirm(account_id, current_account()))


@bp.route("/settlement-accounts/<int:account_id>/withdraw", methods=["POST"])
@roles(Role.ADMIN)
@operation(
    "Withdraw a pending settlement account",
    tag=TAG,
    description="Drop a change entered wrongly; the confirmed account, if any, is payable again. No body is "
    "needed.",
    responses={204: ("Withdrawn.", None)},
    problems={404: "No such settlement account.", 409: "The account is not waiting for confirmation."},
)
def withdraw_settlement_account(account_id: int) -> Any:
    settlement_accounts.withdraw(account_id, current_account())
    return "", 204


# --- what a gift paid for ------------------------------------------------------------------------------


@bp.route("/donations/<int:donation_id>/uses", methods=["GET"])
@signed_in
@operation(
    "What a gift paid for",
    tag=TAG,
    description="A received gift's parts, which always sum to the gift: what each payout to the hospital "
    "took of it (payouts take the campaign's gifts first in, first out), what went to a relief pool, was "
    "refunded, withdrawn by a dispute or kept as the provider's fee, and what the fund still holds. For the "
    "gift's donor and charity staff; 404 for others.",
    responses={200: ("The gift's parts.", GiftUses)},
    problems={404: "No such donation, or not the caller's."},
)
def donation_uses(donation_id: int) -> Any:
    user = current_account()
    donation = db.session.get(Donation, donation_id)
    if donation is None or not (donation.donor_id == user.id or is_staff(user)):
        raise NotFound(_("We could not find that donation."))
    parts = gift_allocations.breakdowns([donation]).get(donation.id)
    body: dict[str, Any] = {
        "donation_id": donation.id,
        "campaign_id": donation.campaign_id,
        "received": parts is not None,
        "amount_fen": donation.amount_fen,
        "payouts": [],
        "relief_pool_fen": 0,
        "refunded_fen": 0,
        "disputed_fen": 0,
        "fee_fen": 0,
        "held_fen": 0,
    }
    if parts is not None:
        body.update(
            payouts=[
                {
                    "disbursement_id": paid.id,
                    "amount_fen": amount,
                    "hospital": paid.hospital,
                    "purpose": paid.purpose,
                    "paid_at": paid.paid_at,
                }
                for paid, amount in parts.payouts
            ],
            relief_pool_fen=parts.relief_pool_fen,
            refunded_fen=parts.refunded_fen,
            disputed_fen=parts.disputed_fen,
            fee_fen=parts.fee_fen,
            held_fen=parts.held_fen,
        )
    return GiftUses().dump(body)
