"""A small world for disbursement tests: the custodian charity with two approvers and a finance member, two
admins who confirmed the hospital's settlement account, a fundraising campaign and paid gifts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fundraise.extensions import db
from fundraise.models import Campaign, Charity, Disbursement, Role, User
from fundraise.payments import get_provider
from fundraise.services import disbursements, settlement_accounts
from fundraise.services import donations as donation_service
from fundraise.services.disbursements import RequestForm
from fundraise.services.documents import PreparedFile
from tests.factories import CampaignFactory, CharityFactory, UserFactory


def pdf_bill(text: str = "bill") -> PreparedFile:
    body = f"1 0 obj << /Type /Catalog >> endobj % {text}\n".encode()
    data = b"%PDF-1.4\n" + body + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    return PreparedFile("bill", "住院费用清单.pdf", "application/pdf", data)


@dataclass
class World:
    custodian: Charity
    approver: User
    second: User
    finance: User
    family: User
    campaign: Campaign

    def request(
        self, amount_fen: int, *, by: User | None = None, bill_total_fen: int | None = None
    ) -> Disbursement:
        form = RequestForm(
            source="campaign_fund",
            amount_fen=amount_fen,
            bill_total_fen=bill_total_fen or amount_fen,
            purpose="住院费用（第一次结算）",
            request_key=uuid.uuid4().hex,
        )
        return disbursements.request(self.campaign, by or self.family, form, [pdf_bill()])


def give(campaign: Campaign, amount_fen: int) -> int:
    donation, _url = donation_service.start_donation(campaign, None, amount_fen, receipt_email="d@example.cn")
    get_provider().pay(donation.provider_payment_id)
    db.session.commit()
    return donation.id


def confirmed_hospital_account(hospital_id: int) -> None:
    first, second = UserFactory(role=Role.ADMIN), UserFactory(role=Role.ADMIN)
    db.session.commit()
    row = settlement_accounts.propose(
        hospital_id,
        first,
        bank_name="中国银行合肥分行",
        account_name="安徽省立医院",
        account_number="6217 0000 1234 5678",
    )
    settlement_accounts.confirm(row.id, second)


def world(app, gifts: tuple[int, ...] = (100_000, 100_000)) -> World:  # type: ignore[no-untyped-def]
    custodian = CharityFactory()
    db.session.flush()
    app.config["CUSTODIAN_CHARITY"] = custodian.code
    approver = UserFactory(role=Role.CHARITY_STAFF, charity=custodian)
    second = UserFactory(role=Role.CHARITY_STAFF, charity=custodian)
    finance = UserFactory(role=Role.CHARITY_STAFF, charity=custodian, finance=True)
    family = UserFactory()
    campaign = CampaignFactory(state="fundraising", target_fen=10_000_000, applicant=family)
    db.session.commit()
    confirmed_hospital_account(campaign.hospital_id)
    for amount in gifts:
        give(campaign, amount)
    return World(custodian, approver, second, finance, family, campaign)
