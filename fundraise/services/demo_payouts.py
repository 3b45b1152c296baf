"""Demo payouts: every hospital's settlement account (entered by one admin, confirmed by another), a finance
member at the custodian charity, and disbursements in each phase a person should see at once — one in its
public notice, one awaiting a second approver, one paid with its bill, one campaign frozen by a credible
report, and one campaign closed out with what was left settled as its donors chose.

All through the services people use, so the ledger, the audit log and `flask ledger check` hold. The bills are
PNG pictures of a hospital bill's table (clearly marked as demo material), so the public page's blurred preview
looks like one.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import (
    Campaign,
    CampaignReport,
    CampaignState,
    Disbursement,
    Donation,
    Hospital,
    ReportStatus,
    Role,
    SurplusChoice,
    User,
)
from fundraise.payments import get_provider
from fundraise.services import (
    accounts,
    campaign_reports,
    close_out,
    disbursement_funds,
    disbursements,
    documents,
    gift_allocations,
    settlement_accounts,
)
from fundraise.services.disbursements import RequestForm
from fundraise.services.documents import PreparedFile, Upload
from fundraise.services.donations import raised_fen, start_donation

# The printed family login's campaign shows a paid disbursement and one in notice.
FAMILY_LOGIN = "family1@demo.aidbridge.cn"
BANKS = ["中国工商银行", "中国建设银行", "中国银行", "中国农业银行", "交通银行"]
BILL_LINES = [
    ("Bed and nursing", 0.08),
    ("Medicines (western)", 0.31),
    ("Surgery and anaesthesia", 0.24),
    ("Laboratory tests", 0.12),
    ("Imaging (CT, MRI)", 0.09),
    ("Medical materials", 0.11),
    ("Treatment fees", 0.05),
]


@dataclass
class Requested:
    """The requests made in the demo's past whose public notice is over by the time the demo is served."""

    shown: Campaign
    paid: Disbursement
    over: Disbursement
    frozen: Campaign
    closing: Campaign
    closing_paid: Disbursement


def request_payouts(staff: dict[str, User]) -> Requested:
    """The payout side of the demo, its first part: accounts, and the requests to be approved, made while
    the demo's clock is set back by more than the public notice (demo.py), so that approving them now comes
    after their notice, as it would have. `staff` are the demo's staff accounts by login name."""
    for hospital in db.session.scalars(select(Hospital).order_by(Hospital.id)):
        _settlement_account(hospital, staff["admin"], staff["admin2"])
    _make_finance(staff["finance"], staff["admin"])
    fundraising = list(
        db.session.scalars(
            select(Campaign).where(Campaign.state == CampaignState.FUNDRAISING).order_by(Campaign.id)
        )
    )
    reported = set(
        db.session.scalars(
            select(CampaignReport.campaign_id).where(CampaignReport.status == ReportStatus.OPEN)
        )
    )
    frozen = next(c for c in fundraising if c.id in reported)
    rest = [c for c in fundraising if c.id not in reported]
    shown = next(c for c in rest if c.applicant.email == FAMILY_LOGIN)
    rest.remove(shown)
    rest.sort(key=lambda c: raised_fen(c.id))
    closing, large = rest[0], rest[-1]

    # The printed family's campaign: one to be paid with its bill.
    paid = _request(shown, shown.applicant, 30_000_00, 36_812_40, "第一次住院费用结算（手术及术后治疗）")
    # Above the two-approver threshold: to get one approval, the second awaited.
    amount = current_app.config["DISBURSEMENT_TWO_APPROVERS_FROM_FEN"] + 10_000_00
    _top_up(large, amount)
    over = _request(
        large, _social_worker(large) or large.applicant, amount, amount + 4_386_50, "骨髓移植住院费用"
    )
    closing_paid = _late_gifts_and_final_request(closing)
    return Requested(shown, paid, over, frozen, closing, closing_paid)


def decide_payouts(requested: Requested, staff: dict[str, User]) -> None:
    """The payout side of the demo, now: approvals, a payment, a request in its public notice, a frozen
    campaign and a close-out."""
    # staff3, ANXIN's second approver, is left to give the second approval.
    approver, finance = staff["staff"], staff["finance"]
    shown, paid, frozen = requested.shown, requested.paid, requested.frozen
    disbursements.approve(paid.id, approver, "票据与诊疗记录核对无误。")
    disbursements.record_payment(paid.id, finance, f"DEMO-HX{paid.id:08d}")
    _request(shown, _social_worker(shown) or shown.applicant, 12_000_00, 12_000_00, "第二疗程化疗药品费用")
    disbursements.approve(requested.over.id, approver, "票据与诊疗记录核对无误。")

    # A credible report freezes the campaign's disbursements, the request in its notice with them.
    _request(frozen, frozen.applicant, 8_000_00, 9_215_00, "住院押金及检查费用")
    report = db.session.scalar(
        select(CampaignReport).where(
            CampaignReport.campaign_id == frozen.id, CampaignReport.status == ReportStatus.OPEN
        )
    )
    assert report is not None
    campaign_reports.mark_credible(report, approver, "举报内容具体，已联系医院社工核实病历与费用清单。")

    _closed_out(requested.closing, requested.closing_paid, approver, finance)
    relay()


# --- people and accounts -------------------------------------------------------------------------------


def _settlement_account(hospital: Hospital, admin: User, second_admin: User) -> None:
    row = settlement_accounts.propose(
        hospital.id,
        admin,
        bank_name=BANKS[hospital.id % len(BANKS)],
        account_name=hospital.name_zh,
        account_number=f"6222 0{hospital.id:03d} 1000 {hospital.id * 7919 % 10000:04d}",
    )
    settlement_accounts.confirm(row.id, second_admin)


def _make_finance(user: User, admin: User) -> None:
    """The custodian's finance member, ticked by an admin as on the account's edit page."""
    accounts.update_account(
        user.id,
        name=user.name,
        email=user.email,
        role=user.role,
        charity_code=user.charity.code if user.charity else None,
        active=True,
        actor=admin,
        finance=True,
    )


def _social_worker(campaign: Campaign) -> User | None:
    if campaign.hospital_id is None:
        return None
    return db.session.scalar(
        select(User)
        .where(User.role == Role.SOCIAL_WORKER, User.hospital_id == campaign.hospital_id)
        .order_by(User.id)
    )


# --- disbursements -------------------------------------------------------------------------------------


def _request(
    campaign: Campaign, by: User, amount_fen: int, bill_total_fen: int, purpose: str
) -> Disbursement:
    form = RequestForm(
        source="campaign_fund",
        amount_fen=amount_fen,
        bill_total_fen=bill_total_fen,
        purpose=purpose,
        request_key=uuid.uuid4().hex,
    )
    return disbursements.request(campaign, by, form, [_bill(campaign, bill_total_fen, "Inpatient bill")])


def _top_up(campaign: Campaign, amount_fen: int) -> None:
    """More gifts until the fund can pay `amount_fen`."""
    n = 0
    while disbursement_funds.available_from_fund(campaign.id) < amount_fen:
        n += 1
        _gift(campaign, 20_000_00, SurplusChoice.REFUND, f"爱心企业员工{n}")


def _gift(campaign: Campaign, amount_fen: int, choice: SurplusChoice, name: str) -> Donation:
    """A gift through the sandbox (the signed-event path a real payment takes)."""
    with current_app.test_request_context(base_url="http://127.0.0.1:5000"):
        donation, _url = start_donation(
            campaign,
            None,
            amount_fen,
            message="祝早日康复。",
            surplus_choice=choice,
            display_name=name,
            return_url="http://127.0.0.1:5000/",
            receipt_email="demo-donor@example.cn",
        )
        get_provider().pay(donation.provider_payment_id)  # type: ignore[attr-defined]  # the demo runs on SandboxProvider, which has pay()
    return donation


def _late_gifts_and_final_request(campaign: Campaign) -> Disbursement:
    """Two late gifts (one donor wants a refund of what is left, one the relief pool), and a payout request
    that spends every earlier gift."""
    refund = _gift(campaign, 500_00, SurplusChoice.REFUND, "王阿姨")
    pool = _gift(campaign, 800_00, SurplusChoice.RELIEF_POOL, "临泉老乡")
    relay()
    earlier = sum(
        left for gift, left in gift_allocations.unspent(campaign.id) if gift.id not in (refund.id, pool.id)
    )
    return _request(campaign, campaign.applicant, earlier, earlier + 2_630_00, "住院及手术费用结算")


def _closed_out(campaign: Campaign, paid: Disbursement, approver: User, finance: User) -> None:
    """The final payout approved and paid, then the family's close-out and the custodian's settlement."""
    disbursements.approve(paid.id, approver, "票据与诊疗记录核对无误。")
    disbursements.record_payment(paid.id, finance, f"DEMO-HX{paid.id:08d}")
    close_out.request_close_out(
        campaign,
        campaign.applicant,
        _bill(campaign, paid.bill_total_fen, "Final bill (discharge)"),
        "已出院，费用已全部结清。",
    )
    close_out.settle_surplus(campaign, approver)


# --- the bill picture ----------------------------------------------------------------------------------


def _bill(campaign: Campaign, total_fen: int, heading: str) -> PreparedFile:
    """A white page with a hospital bill's table, checked and re-encoded as an upload would be."""
    page = Image.new("RGB", (1240, 1754), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    ink, rule = (30, 30, 30), (150, 150, 150)
    hospital = campaign.hospital.name_en if campaign.hospital else "Hospital"
    draw.text((100, 90), hospital, fill=ink, font=_font(40))
    draw.text((100, 150), f"{heading} - DEMO, not a real bill", fill=ink, font=_font(30))
    draw.text(
        (100, 200),
        f"Patient file {campaign.id:06d}    Invoice DEMO-{campaign.id:04d}-{total_fen % 9973:04d}",
        fill=ink,
        font=_font(24),
    )
    top, left, right = 290, 100, 1140
    draw.rectangle((left, top, right, top + 60), fill=(235, 238, 242))
    for x, label in ((left + 20, "Item"), (700, "Qty"), (900, "Amount (CNY)")):
        draw.text((x, top + 16), label, fill=ink, font=_font(26))
    spent = 0
    for row, (item, share) in enumerate(BILL_LINES):
        y = top + 60 + row * 70
        amount = total_fen - spent if row == len(BILL_LINES) - 1 else int(total_fen * share)
        spent += amount
        draw.line((left, y, right, y), fill=rule, width=2)
        draw.text((left + 20, y + 20), item, fill=ink, font=_font(26))
        draw.text((700, y + 20), str(1 + (row * 3) % 7), fill=ink, font=_font(26))
        draw.text((900, y + 20), f"{amount / 100:,.2f}", fill=ink, font=_font(26))
    bottom = top + 60 + len(BILL_LINES) * 70
    draw.line((left, bottom, right, bottom), fill=ink, width=3)
    draw.text((left + 20, bottom + 24), "Total", fill=ink, font=_font(30))
    draw.text((900, bottom + 24), f"{total_fen / 100:,.2f}", fill=ink, font=_font(30))
    draw.rectangle((left, top, right, bottom + 90), outline=ink, width=3)
    draw.ellipse((860, bottom + 200, 1100, bottom + 440), outline=(190, 40, 40), width=6)
    draw.text((912, bottom + 305), "CASHIER", fill=(190, 40, 40), font=_font(34))
    out = io.BytesIO()
    page.save(out, format="PNG")
    (prepared,) = documents.prepare([("bill", Upload(f"bill-{campaign.id}.png", out.getvalue()))])
    return prepared


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)
