"""Demo data for every role: charities, staff, families and ~20 campaigns in varied states.

Everything is made through the same service calls people use (filing, uploads, transitions, reports), so
the demo's audit log, notifications and documents are real. People are fictional; amounts illustrative.

The patients' insurance and civil-affairs records (config/demo/records/, in the import format) are imported
first, so each submitted case is decided by the real verification: a case the checks verify skips the
reviewer; one they send to review is decided by the reviewer with the JSON's `decision_reason`. A case whose
checks disagree with the state the JSON asks for stops the seeding with the reason, rather than being forced.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from config.settings import PROJECT_ROOT
from fundraise.extensions import db
from fundraise.jobs.outbox import relay
from fundraise.models import Campaign, CampaignUpdate, Hospital, Role, User
from fundraise.models.columns import clock_set_back, utcnow
from fundraise.payments import get_provider
from fundraise.services import accounts, documents, filing, transitions
from fundraise.services.campaign_reports import file_report
from fundraise.services.charities import create_charity
from fundraise.services.demo_anomalies import plant_anomalies, spot_check
from fundraise.services.demo_consents import give_demo_consents
from fundraise.services.demo_payouts import decide_payouts, request_payouts
from fundraise.services.demo_relief import seed_relief
from fundraise.services.demo_rights import seed_rights
from fundraise.services.documents import Upload
from fundraise.services.donations import start_donation
from fundraise.services.records_import import import_feed
from fundraise.unit_of_work import unit_of_work
from verification.identity import make_resident_id

DEMO_FILE = PROJECT_ROOT / "config" / "demo" / "campaigns.json"
RECORDS_DIR = PROJECT_ROOT / "config" / "demo" / "records"
RECORD_FEEDS = ("basic_enrolment", "critical_illness", "civil_affairs")
DEMO_PASSWORD = "aidbridge-demo"  # noqa: S105  (printed to the person running the demo)
DEMO_DOMAIN = "demo.aidbridge.cn"

CHARITIES = [
    ("ANXIN", "安心医疗救助基金会", "Anxin Medical Relief Foundation", "53110000MJ00000013", "110105"),
    (
        "TONGXIN",
        "童心儿童大病救助基金会",
        "Tongxin Children's Critical Illness Foundation",
        "53310000MJ0000002K",
        "310104",
    ),
    (
        "LONGYUAN",
        "陇原乡村健康公益基金会",
        "Longyuan Rural Health Foundation",
        "53620000MJ0000003Y",
        "620102",
    ),
]

# The one printed login per role, plus further staff so queues and approvals have more than one person.
STAFF: list[tuple[str, str, Role, dict[str, Any]]] = [
    ("admin", "平台管理员", Role.ADMIN, {}),
    ("admin2", "黄磊（平台第二管理员）", Role.ADMIN, {}),
    ("staff", "刘芳（安心基金会）", Role.CHARITY_STAFF, {"charity_code": "ANXIN"}),
    ("staff3", "林涛（安心基金会）", Role.CHARITY_STAFF, {"charity_code": "ANXIN"}),
    ("finance", "许敏（安心基金会财务）", Role.CHARITY_STAFF, {"charity_code": "ANXIN"}),
    ("staff2", "陈静（童心基金会）", Role.CHARITY_STAFF, {"charity_code": "TONGXIN"}),
    ("officer", "赵建国（阜阳市民政局）", Role.CIVIL_AFFAIRS_OFFICER, {"jurisdiction_code": "341200"}),
    ("officer2", "马文华（甘肃省民政厅）", Role.CIVIL_AFFAIRS_OFFICER, {"jurisdiction_code": "620000"}),
    ("socialworker", "周敏（安徽省立医院社工部）", Role.SOCIAL_WORKER, {"hospital_code": "AH-PROV"}),
    ("sw-fuwai", "吴倩（阜外医院社工部）", Role.SOCIAL_WORKER, {"hospital_code": "BJ-FUWAI"}),
    ("sw-bch", "郑雪（北京儿童医院社工部）", Role.SOCIAL_WORKER, {"hospital_code": "BJ-BCH"}),
    ("sw-chfu", "孙悦（复旦儿科医院社工部）", Role.SOCIAL_WORKER, {"hospital_code": "SH-CHFU"}),
    ("sw-gsprov", "马丽（甘肃省人民医院社工部）", Role.SOCIAL_WORKER, {"hospital_code": "GS-PROV"}),
    ("sw-wch", "何静（华西医院社工部）", Role.SOCIAL_WORKER, {"hospital_code": "SC-WCH"}),
    ("donor", "爱心人士李先生", Role.DONOR, {}),
]

# Terminal and earlier states first, so a patient's closed campaign exists before their next one is filed.
STATE_ORDER = [
    "cancelled",
    "closed",
    "rejected",
    "fundraising",
    "suspended",
    "verified",
    "needs_review",
    "submitted",
    "draft",
]
PATHS = {
    "draft": [],
    "submitted": ["submit"],
    "needs_review": ["submit", "stay_in_review"],
    "verified": ["submit", "verify"],
    "rejected": ["submit", "reject"],
    "fundraising": ["submit", "verify", "open_fundraising"],
    "closed": ["submit", "verify", "open_fundraising", "close"],
    "suspended": ["submit", "verify", "open_fundraising", "suspend"],
    "cancelled": ["cancel"],
}
# What the automatic checks must have decided for each reviewer step; the state the step leads to.
DECISIONS = {"verify": "verified", "reject": "rejected", "stay_in_review": "needs_review"}


class DemoDataError(RuntimeError):
    """The demo data asks for a state the real verification does not reach."""


def _email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


def seed_demo(demo_file: Path = DEMO_FILE, url: str = "http://127.0.0.1:5000") -> list[str]:
    """Create the demo data unless it is there already; return the lines to print, with the `url` it is
    served at."""
    if db.session.scalar(select(User.id).where(User.email == _email("admin"))) is None:
        _seed(json.loads(demo_file.read_text(encoding="utf-8")))
    return _logins(url)


def _seed(data: dict[str, Any]) -> None:
    """The demo's story: what happened before a disbursement's public notice could end is played on a clock
    set back by more than the notice, then the approvals and everything after them now, so no event is dated
    before what it follows, and none after the day the demo is seeded."""
    notice = timedelta(hours=current_app.config["DISBURSEMENT_NOTICE_HOURS"])
    with clock_set_back(notice + timedelta(hours=1)):
        staff = _seed_before_notice_ends(data)
        requested = request_payouts(staff)
    decide_payouts(requested, staff)
    plant_anomalies(staff)
    spot_check(staff)
    seed_rights(_email, DEMO_PASSWORD)
    relay()


def _seed_before_notice_ends(data: dict[str, Any]) -> dict[str, User]:
    """Charities, people, records, campaigns with their gifts, updates and reports, relief projects."""
    for code, name_zh, name_en, credit_code, region in CHARITIES:
        create_charity(
            code=code,
            name_zh=name_zh,
            name_en=name_en,
            credit_code=credit_code,
            region_code=region,
            actor=None,
        )
    staff: dict[str, User] = {}
    for local, name, role, extra in STAFF:
        staff[local] = accounts.create_account(_email(local), name, DEMO_PASSWORD, role, **extra)
    families = {
        family["key"]: accounts.register(family["email"], family["name"], DEMO_PASSWORD, Role.FAMILY)
        for family in data["families"]
    }
    social_workers = {
        user.hospital.code: user
        for user in staff.values()
        if user.role == Role.SOCIAL_WORKER and user.hospital is not None
    }
    reviewer = staff["staff"]
    _import_records()
    for spec in sorted(data["campaigns"], key=lambda c: (STATE_ORDER.index(c["state"]), c["key"])):
        _seed_campaign(spec, families[spec["family"]], social_workers, reviewer)
    relay()
    seed_relief(staff)
    return staff


def _import_records() -> None:
    """The demo patients' records, through the import officers use (as an operator on the server)."""

    for kind in RECORD_FEEDS:
        path = RECORDS_DIR / f"{kind}.csv"
        result = import_feed(kind, path.read_bytes(), "csv", None, source_name=path.name)
        if not result.accepted:
            raise DemoDataError(f"{path}: {[error.message for error in result.errors[:5]]}")


def _seed_campaign(
    spec: dict[str, Any], family: User, social_workers: dict[str, User], reviewer: User
) -> None:

    social_worker = social_workers.get(spec["hospital_code"])
    filed_by = social_worker if spec["filed_by"] == "social_worker" and social_worker else None
    actor = filed_by or family
    campaign = filing.create_draft(family, _fields(spec), filed_by=filed_by)
    photos = [("photo", Upload(f"photo-{n}.jpg", _photo(spec, n))) for n in range(1, 3)]
    evidence = [
        (kind, Upload(f"{kind}.pdf", _pdf(spec, label)))
        for kind, label in [
            ("diagnosis", "Diagnosis certificate"),
            ("cost_estimate", "Cost estimate"),
            ("identity", "Identity documents"),
            ("household", "Household registration"),
        ]
    ]
    documents.attach(campaign, actor, photos + evidence)
    if spec["stay_confirmed"] and social_worker is not None:
        filing.confirm_stay(campaign, social_worker)
    if "submit" in PATHS[spec["state"]]:
        give_demo_consents(campaign, actor, spec)  # a draft still asks for them

    for step in PATHS[spec["state"]]:
        if step in DECISIONS:
            # The checks ran when the case was submitted (the job, relayed inline). A case they decided as
            # the demo wants is left as it is; one sent to review is decided by the reviewer.
            wanted = DECISIONS[step]
            if campaign.state == "needs_review" and wanted != "needs_review":
                transitions.transition(
                    campaign, step, actor=reviewer, reason=spec["decision_reason"] or "核验通过。"
                )
            elif campaign.state != wanted:
                raise DemoDataError(
                    f"{spec['key']}: verification left the case {campaign.state}; the demo wants {wanted}"
                    f" ({campaign.decision_reason})"
                )
        elif step == "submit":
            transitions.transition(campaign, "submit", actor=actor)
            relay()  # the verification job
        elif step == "suspend":
            for report in spec["reports"]:
                file_report(
                    campaign,
                    None,
                    contact="demo-reporter@example.cn",
                    reason=report["reason"],
                    details=report["details"],
                )
            transitions.transition(campaign, "suspend", actor=reviewer, reason=spec["decision_reason"])
        elif step == "cancel":
            transitions.transition(
                campaign, "cancel", actor=family, reason="家属已通过其他渠道解决费用，撤回求助。"
            )
        elif step == "close" and campaign.state == "closed":
            pass  # the gifts reached the target, and the system closed it
        else:
            transitions.transition(campaign, step, actor=family)
            if step == "open_fundraising":
                _give(campaign, spec)
    if spec["state"] != "suspended":
        for report in spec["reports"]:
            file_report(
                campaign,
                None,
                contact="demo-reporter@example.cn",
                reason=report["reason"],
                details=report["details"],
            )
    # Posted now, oldest first ("days_ago" orders them): the campaign's timeline is its audit log, written as
    # the demo is seeded, and an update dated before the campaign was filed would tell an impossible story.
    with unit_of_work():
        for n, update in enumerate(sorted(spec["updates"], key=lambda u: -u["days_ago"])):
            db.session.add(
                CampaignUpdate(
                    campaign_id=campaign.id,
                    author_id=actor.id,
                    body=update["body"],
                    created_at=utcnow() + timedelta(seconds=n),
                )
            )


def _fields(spec: dict[str, Any]) -> dict[str, Any]:
    birth = date.fromisoformat(spec["patient_birth_date"])
    # One stable ID number per fictional patient, so a patient's repeat campaigns share it.
    sequence = int(hashlib.sha256(spec["patient_name"].encode()).hexdigest(), 16) % 100
    fen = {
        name: spec[f"{name}_yuan"] * 100
        for name in (
            "cost_total",
            "cost_in_policy",
            "target",
            "household_income",
            "savings",
            "commercial_insurance",
            "other_fundraising",
        )
    }
    return {
        "title": spec["title"],
        "story": spec["story"],
        "patient_name": spec["patient_name"],
        "patient_id_number": make_resident_id(
            spec["patient_region_code"], birth, spec["patient_sex"], sequence
        ),
        "patient_birth_date": birth,
        "patient_sex": spec["patient_sex"],
        "patient_region_code": spec["patient_region_code"],
        "relationship": spec["relationship"],
        "diagnosis_icd10": spec["diagnosis_icd10"],
        "diagnosis_text": spec["diagnosis_text"],
        "hospital_code": spec["hospital_code"],
        "admitted_on": date.fromisoformat(spec["admitted_on"]),
        "treatment_plan": spec["treatment_plan"],
        "household_size": spec["household_size"],
        "owns_house": spec["owns_house"],
        "house_note": spec["house_note"],
        "owns_car": spec["owns_car"],
        "car_note": spec["car_note"],
        "assistance_claimed": spec.get("assistance_claimed", False),
        # Asked only of treatment outside the patient's pooling region; the social worker's confirmation of
        # the stay confirms it too.
        "referral_filed": spec.get("referral_filed"),
        "admissions": spec.get("admissions", 1),
        "next_year_admissions": spec.get("next_year_admissions", 0),
        "next_year_cost_fen": spec.get("next_year_cost_yuan", 0) * 100,
        **{f"{name}_fen": value for name, value in fen.items()},
    }


_PALETTE = [(214, 232, 225), (236, 226, 208), (221, 229, 240), (240, 224, 224), (228, 236, 214)]


def _photo(spec: dict[str, Any], n: int) -> bytes:
    """A calm placeholder picture (no real faces): a soft colour field with simple shapes."""
    seed = int(hashlib.sha256(f"{spec['key']}-{n}".encode()).hexdigest(), 16)
    background = _PALETTE[seed % len(_PALETTE)]
    image = Image.new("RGB", (800, 600), background)
    draw = ImageDraw.Draw(image)
    accent = tuple(max(0, c - 60) for c in background)
    for i in range(4):
        x, y, r = (seed >> (i * 8)) % 700 + 50, (seed >> (i * 8 + 4)) % 450 + 75, 40 + (seed >> i) % 90
        draw.ellipse((x - r, y - r, x + r, y + r), outline=accent, width=6)
    draw.rectangle((0, 520, 800, 600), fill=accent)
    draw.text((24, 545), f"Aidbridge demo photo {spec['key']}-{n}", fill=(255, 255, 255), font=_font(28))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _pdf(spec: dict[str, Any], label: str) -> bytes:
    """A one-page PDF standing in for a scanned document, clearly marked as demo material."""
    page = Image.new("RGB", (1240, 1754), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    draw.rectangle((60, 60, 1180, 1694), outline=(120, 120, 120), width=3)
    lines = [
        f"DEMO DOCUMENT - {label}",
        f"Campaign {spec['key']} / ICD-10 {spec['diagnosis_icd10']} / hospital {spec['hospital_code']}",
        f"Admitted {spec['admitted_on']}; estimated total cost CNY {spec['cost_total_yuan']:,}",
        "Generated for the Aidbridge demo. Not a real medical record.",
    ]
    for i, line in enumerate(lines):
        draw.text((120, 160 + i * 70), line, fill=(30, 30, 30), font=_font(34 if i == 0 else 26))
    out = io.BytesIO()
    page.save(out, format="PDF", resolution=150)
    return out.getvalue()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _logins(url: str) -> list[str]:
    rows = [
        ("family", "family1", "张丽 — owns campaigns in several states"),
        ("donor", "donor", ""),
        ("social_worker", "socialworker", "安徽省立医院"),
        ("charity_staff", "staff", "安心医疗救助基金会 — review queue, reports, relief offers to approve"),
        ("civil_affairs_officer", "officer", "阜阳市 (341200)"),
        ("admin", "admin", ""),
        ("admin", "admin2", "second admin — confirms hospitals' settlement accounts"),
        ("charity_staff", "finance", "安心基金会 finance — records bank transfers of approved disbursements"),
        ("charity_staff", "staff3", "安心基金会 — second approver of large disbursements"),
    ]
    campaigns_count = db.session.query(Campaign).count()
    hospitals = db.session.query(Hospital).count()
    lines = [
        "",
        f"Aidbridge demo is ready: {url}",
        f"  {campaigns_count} campaigns, {hospitals} hospitals; embedded SQLite, jobs run inline, sandbox payments.",
        f"  Every demo login uses the password: {DEMO_PASSWORD}",
        "",
    ]
    for role, local, note in rows:
        lines.append(f"  {role:<22} {_email(local):<34} {note}")
    lines.append(
        "  Data rights: a donor and a draft-only family asked for deletion (admin: /admin/deletion-requests);"
    )
    lines.append("  family1 has downloaded its archive (/account/data).")
    lines.append("")
    return lines


DONOR_NAMES = [
    "李先生",
    "一位老师",
    "陈女士",
    "临泉老乡",
    "王阿姨",
    "刘同学",
    "赵先生",
    "爱心企业员工",
    "周女士",
]
DONOR_MESSAGES = [
    "加油，一定会好起来的！",
    "早日康复。",
    "",
    "一点心意，祝孩子平安。",
    "",
    "挺住，大家都在。",
]


def _give(campaign: Campaign, spec: dict[str, Any]) -> None:
    """Gifts through the sandbox provider (the same signed-event path a real payment takes) up to the demo's
    share of the target; a share of 1.0 reaches the target, and the system then closes the campaign."""

    rng = random.Random(spec["key"])
    remaining = int(campaign.target_fen * spec["raised_share"])
    largest = current_app.config["DONATION_MAX_FEN"]
    gifts = rng.randint(6, 12)
    # The demo donor's account gives each campaign its first gift, so their history shows what gifts paid for.
    donor = db.session.scalar(select(User).where(User.email == _email("donor")))
    first = True
    while remaining >= 100:
        # About an equal share each, give or take 40%, in whole yuan; the last gift takes what is left.
        share = remaining // max(gifts, 1) * rng.randint(60, 140) // 100 // 100 * 100
        amount = min(remaining, largest, max(share, 100))
        if gifts <= 1 or remaining - amount < 100:
            amount = min(remaining, largest)
        gifts -= 1
        anonymous = rng.random() < 0.3
        # The payment pages' links are built as if for a request to the demo server.
        with current_app.test_request_context(base_url="http://127.0.0.1:5000"):
            donation, _url = start_donation(
                campaign,
                donor if first else None,
                amount,
                anonymous=anonymous,
                message=rng.choice(DONOR_MESSAGES),
                display_name="" if anonymous else rng.choice(DONOR_NAMES),
                return_url="http://127.0.0.1:5000/",
                receipt_email="" if first else f"demo-donor-{gifts}@example.cn",
            )
            get_provider().pay(donation.provider_payment_id)  # type: ignore[attr-defined]  # the demo runs on SandboxProvider, which has pay()
        first = False
        remaining -= amount
    relay()
