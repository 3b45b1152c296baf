"""Progress updates a family or their social worker posts on a campaign, with optional photos."""

from __future__ import annotations

from flask_babel import gettext as _

from fundraise.errors import Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, CampaignUpdate, Document, DocumentKind, User
from fundraise.services import audit
from fundraise.services.campaigns import is_applicant_side
from fundraise.services.documents import Upload, attach, upload_dir

# Updates are for campaigns the public can see: before verification there is nobody to tell.
UPDATABLE_STATES = frozenset(
    {CampaignState.VERIFIED, CampaignState.FUNDRAISING, CampaignState.CLOSED, CampaignState.SUSPENDED}
)
MIN_BODY = 10
MAX_BODY = 5000
MAX_PHOTOS = 9


def can_post_update(user: User | None, campaign: Campaign) -> bool:
    return is_applicant_side(user, campaign) and campaign.state in UPDATABLE_STATES


def post_update(campaign: Campaign, actor: User, body: str, uploads: list[Upload]) -> CampaignUpdate:
    """Add an update and its photos and commit once: either all of it is stored or none of it."""
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("You may not post updates on this campaign."))
    if campaign.state not in UPDATABLE_STATES:
        raise IllegalTransition(
            _(
                "Updates can be posted once the campaign is verified, and not after it is cancelled or rejected."
            )
        )
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if not MIN_BODY <= len(body) <= MAX_BODY:
        errors["body"] = [
            _("Write between %(min)d and %(max)d characters.", min=MIN_BODY, max=MAX_BODY),
        ]
    if len(uploads) > MAX_PHOTOS:
        errors["photos"] = [_("At most %(n)d photos per update.", n=MAX_PHOTOS)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)

    documents: list[Document] = []
    try:
        update = CampaignUpdate(campaign_id=campaign.id, author_id=actor.id, body=body)
        db.session.add(update)
        db.session.flush()
        if uploads:
            try:
                documents = attach(
                    campaign,
                    actor,
                    [(DocumentKind.UPDATE_PHOTO, upload) for upload in uploads],
                    update_id=update.id,
                    commit=False,
                )
            except ValidationFailed as error:
                # attach() names its errors by document kind; the form calls the field "photos".
                messages = [m for ms in error.fields.values() for m in ms]
                raise ValidationFailed(error.message, fields={"photos": messages}) from error
        audit.record(
            "campaign.post_update",
            "campaign",
            campaign.id,
            actor=actor,
            after={"update_id": update.id, "photos": [document.id for document in documents]},
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        for document in documents:
            (upload_dir() / document.stored_name).unlink(missing_ok=True)
        raise
    return update
