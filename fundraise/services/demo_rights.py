"""The demo's data-subject requests (issue 15): the reviewing staff member and the region's officer have looked
at the first demo family's case (its "who looked" list), the family has downloaded its archive, and two
accounts that exist only for this have asked for deletion: a donor who gave once (profile erased, the gift's
accounting record kept until its retention ends) and a family with nothing but a draft (erased whole). The
admins see both at /admin/deletion-requests; neither account can sign in any more."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, Role, User
from fundraise.payments import get_provider
from fundraise.services import access_log, accounts, deletion, filing, personal_data
from fundraise.services.donations import start_donation
from fundraise.unit_of_work import unit_of_work


def seed_rights(make: Callable[[str], str], password: str) -> None:
    """`make(local)` makes a demo address; every demo account uses `password`."""
    family = db.session.scalar(select(User).where(User.email == make("family1")))
    if family is not None:
        _looked_at(family, [make("staff"), make("officer")])
        export = personal_data.start_export(family)
        for _chunk in personal_data.archive_chunks(export):
            pass  # the download itself; what matters for the demo is that it was made and audited
    _leaving_donor(make("leaving-donor"), password)
    _leaving_family(make("leaving-family"), password)


def _looked_at(family: User, viewers: list[str]) -> None:
    """The reviewer opened an evidence document and the finances of the family's first submitted case; the
    officer of the patient's region read the finances (each view is logged, as on the pages)."""
    campaign = db.session.scalar(
        select(Campaign)
        .where(Campaign.applicant_id == family.id, Campaign.state != CampaignState.DRAFT)
        .order_by(Campaign.id)
    )
    if campaign is None:
        return
    people = {user.email: user for user in db.session.scalars(select(User).where(User.email.in_(viewers)))}
    reviewer, officer = people.get(viewers[0]), people.get(viewers[1])
    document = next(iter(campaign.evidence), None)
    if reviewer is not None and document is not None:
        access_log.record_document_view(document, reviewer)
    for viewer in (reviewer, officer):
        access_log.record_finances_view(campaign, viewer)


def _leaving_donor(address: str, password: str) -> None:
    donor = accounts.register(address, "周雅", password, Role.DONOR)
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.state == CampaignState.FUNDRAISING).order_by(Campaign.id)
    )
    if campaign is not None:
        with current_app.test_request_context(base_url="http://127.0.0.1:5000"):
            donation, _url = start_donation(
                campaign,
                donor,
                20_000,
                message="祝早日康复",
                display_name="周女士",
                return_url="http://127.0.0.1:5000/",
            )
            get_provider().pay(donation.provider_payment_id)  # type: ignore[attr-defined]  # the demo's SandboxProvider
    deletion.request_deletion(donor, password)


def _leaving_family(address: str, password: str) -> None:
    family = accounts.register(address, "赵敏", password, Role.FAMILY)
    with unit_of_work():
        filing.create_draft(family, {"patient_name": "赵小敏", "title": "请帮帮小敏"})
    deletion.request_deletion(family, password)
