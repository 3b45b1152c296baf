"""The demo's consents: each demo case carries the consents its family would have given before submitting
(a guardian's for a child, the patient's own when they file themselves, the patient's confirmed by a relative
or social worker, and for the burned worker in intensive care a documented reason he could not give it)."""

from __future__ import annotations

from typing import Any

from fundraise.models import Campaign, ConsentBasis, ConsentPurpose, User
from fundraise.services import consents
from fundraise.services.consent_rules import allowed_bases

# Demo cases whose patient could not consent when the case was filed: (reason code, the filer's words).
UNABLE = {"c16": ("intensive_care", "在重症监护室救治，使用镇静药物，无法表达意愿。")}


def give_demo_consents(campaign: Campaign, actor: User, spec: dict[str, Any]) -> None:
    """Both consents a submission needs, on the footing the rules allow for this patient and filer."""
    bases = allowed_bases(campaign, actor)
    guardian = None
    reason_code, reason_text = None, ""
    if bases == (ConsentBasis.GUARDIAN,):
        basis = ConsentBasis.GUARDIAN
        guardian = "parent" if spec["relationship"] == "parent" else "legal_guardian"
    elif bases == (ConsentBasis.OWN,):
        basis = ConsentBasis.OWN
    elif spec["key"] in UNABLE:
        basis = ConsentBasis.PATIENT_UNABLE
        reason_code, reason_text = UNABLE[spec["key"]]
    else:
        basis = ConsentBasis.PATIENT_CONFIRMED
    for purpose in (ConsentPurpose.SENSITIVE_PROCESSING, ConsentPurpose.PUBLIC_PAGE):
        consents.give(
            campaign,
            actor,
            consents.ConsentInput(
                purpose=purpose,
                basis=basis,
                guardian_relationship=guardian,
                unable_reason_code=reason_code,
                unable_reason_text=reason_text,
            ),
        )
