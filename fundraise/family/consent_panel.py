"""What the campaign's page says about its consents, and the form for each purpose (each its own act: 单独同意)
with the choices the rules allow the caller. The rules are fundraise.services.consents'."""

from __future__ import annotations

from typing import Any

from wtforms.fields.choices import SelectChoice

from fundraise import consent_text
from fundraise.family.forms import ConsentForm
from fundraise.models import Campaign, CampaignState, ConsentPurpose, User
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.services import consents
from fundraise.services.consent_rules import allowed_bases, in_force

PURPOSES = (ConsentPurpose.SENSITIVE_PROCESSING, ConsentPurpose.PUBLIC_PAGE)


def consent_form(campaign: Campaign, user: User, purpose: str, formdata: Any = None) -> ConsentForm:
    """The form for one purpose, its choices those the service would accept from `user` now."""
    form = ConsentForm(formdata=formdata, prefix=purpose)
    bases = allowed_bases(campaign, user)
    form.basis.choices = [SelectChoice(basis, consent_text.BASIS_CHOICES[basis]) for basis in bases]
    if len(bases) == 1 and not form.basis.data:
        form.basis.data = bases[0]  # nothing to choose: the agreement itself stays unticked
    return form


def consent_panel(
    campaign: Campaign, user: User, forms: dict[str, ConsentForm] | None = None
) -> dict[str, Any]:
    """What the campaign's page shows about consent: per purpose, the consent in force or the form to give
    it (where it may be given now)."""
    forms = forms or {}
    items = []
    open_for_consent = campaign.state not in (CampaignState.CANCELLED, CampaignState.REJECTED)
    sensitive = in_force(campaign, ConsentPurpose.SENSITIVE_PROCESSING)
    for purpose in PURPOSES:
        current = in_force(campaign, purpose)
        # The page consent follows the processing consent: there is no page without processing.
        may_give = open_for_consent and current is None and (purpose == PURPOSES[0] or sensitive is not None)
        items.append(
            {
                "purpose": purpose,
                "label": consent_text.PURPOSE_LABELS[purpose],
                "terms": consent_text.PURPOSE_TERMS[purpose],
                "current": current,
                "form": (forms.get(purpose) or consent_form(campaign, user, purpose)) if may_give else None,
                "needs_first": open_for_consent and current is None and not may_give,
            }
        )
    return {
        "items": items,
        "version": NOTICE_VERSION,
        "own_due": consents.own_consent_due(campaign) is not None,
        "age_known": campaign.patient_birth_date is not None,
    }
