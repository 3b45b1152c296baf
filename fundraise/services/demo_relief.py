"""Demo relief projects, a matching run already done, offers waiting in the staff queue, one approved.

The projects are modelled on real programmes (config/reference/SOURCES.md, "Demo relief projects") but are
the demo charities' own: names, budgets and caps are illustrative.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fundraise.extensions import db
from fundraise.models import Charity, Offer, OfferStatus, User
from fundraise.services import matching_runs, offers, relief_projects

PROJECTS: list[dict[str, Any]] = [
    {
        "charity": "TONGXIN",
        "staff": "staff2",
        "name": "小天使白血病患儿救助",
        "description": "为0至14岁白血病和再生障碍性贫血患儿提供一次性治疗救助，救助款直接支付给医院。",
        "source_url": "https://www.crcf.org.cn/",
        "rules": {"disease_categories": ["leukemia"], "icd10_prefixes": ["C91", "C92", "D61"], "max_age": 14},
        "per_case_cap_fen": 30_000_00,
        "deposit_fen": 150_000_00,
    },
    {
        "charity": "TONGXIN",
        "staff": "staff2",
        "name": "先心病儿童手术援助",
        "description": "资助0至18岁先天性心脏病患儿的手术费用。",
        "source_url": "https://www.crcf.org.cn/",
        "rules": {"icd10_prefixes": ["Q20", "Q21", "Q22", "Q23", "Q24", "Q25"], "max_age": 18},
        "per_case_cap_fen": 30_000_00,
        "deposit_fen": 90_000_00,
    },
    {
        "charity": "ANXIN",
        "staff": "staff",
        "name": "县域尿毒症透析援助",
        "description": "在县级及以下医院透析的低收入尿毒症患者，每人每年最多资助2万元。",
        "source_url": "",
        "rules": {"icd10_prefixes": ["N18"], "max_income_per_capita_fen": 20_000_00},
        "per_case_cap_fen": 20_000_00,
        "deposit_fen": 60_000_00,
    },
    {
        "charity": "ANXIN",
        "staff": "staff",
        "name": "低保家庭大病兜底援助",
        "description": "为低保、特困和低保边缘家庭的大病患者补上医保和医疗救助之后的缺口。",
        "source_url": "",
        "rules": {"assistance_classes": ["tekun", "dibao", "dibao_edge"]},
        "per_case_cap_fen": 50_000_00,
        "deposit_fen": 80_000_00,
    },
]


def seed_relief(staff: dict[str, User]) -> None:
    """Create the projects (as their charities' staff), run matching, approve one of TONGXIN's offers."""
    charities = {c.code: c for c in db.session.scalars(select(Charity))}
    for spec in PROJECTS:
        actor = staff[spec["staff"]]
        assert actor.charity_id == charities[spec["charity"]].id
        relief_projects.create_project(
            actor,
            {**spec, "deposit_reference": f"DEMO-{spec['charity']}-{PROJECTS.index(spec) + 1}"},
        )
    run, _started = matching_runs.start_run(None, queue_job=False)
    matching_runs.execute_run(run.id)
    first = db.session.scalar(
        select(Offer)
        .join(Offer.project)
        .where(Offer.status == OfferStatus.PENDING, Offer.project.has(charity_id=charities["TONGXIN"].id))
        .order_by(Offer.priority.desc(), Offer.id)
    )
    if first is not None:
        offers.decide([first.id], staff["staff2"], "approve", "符合项目条件，同意资助。")
