"""Progress updates a family or their social worker posts on a campaign, with optional photos."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_babel import gettext as _

from fundraise import audit
from fundraise.access import is_applicant_side
from fundraise.errors import Forbidden, IllegalTransition, ValidationFailed
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, CampaignUpdate, Document, DocumentKind, User
from fundraise.services import documents
from fundraise.services.documents import Upload
from fundraise.text_input import text_problem
from fundraise.unit_of_work import unit_of_work

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
    """Add an update and its photos and commit once: either all of it is stored or none of it. The photos
    are prepared first, with no transaction open, so no lock is held while they decode."""
    _check_may_post(campaign, actor)
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if not MIN_BODY <= len(body) <= MAX_BODY:
        errors["body"] = [
            _("Write between %(min)d and %(max)d characters.", min=MIN_BODY, max=MAX_BODY),
        ]
    elif problem := text_problem(body, one_line=False):
        errors["body"] = [problem]
    if len(uploads) > MAX_PHOTOS:
        errors["photos"] = [_("At most %(n)d photos per update.", n=MAX_PHOTOS)]
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), fields=errors)

    files = [(DocumentKind.UPDATE_PHOTO.value, upload) for upload in uploads]
    with _photo_errors():
        prepared = documents.prepare_for(campaign, actor, files) if files else []

    stored: list[Document] = []
    with unit_of_work():
        _check_may_post(campaign, actor)  # again: the campaign may have changed while the photos decoded
        update = CampaignUpdate(campaign_id=campaign.id, author_id=actor.id, body=body)
        db.session.add(update)
        db.session.flush()
        if prepared:
            with _photo_errors():
                stored = documents.store(campaign, actor, prepared, update_id=update.id)
        audit.record(
            "campaign.post_update",
            "campaign",
            campaign.id,
            actor=actor,
            after={"update_id": update.id, "photos": [document.id for document in stored]},
        )
    return update


def _check_may_post(campaign: Campaign, actor: User) -> None:
    if not is_applicant_side(actor, campaign):
        raise Forbidden(_("You may not post updates on this campaign."))
    if campaign.state not in UPDATABLE_STATES:
        raise IllegalTransition(
            _(
                "Updates can be posted once the campaign is verified, and not after it is cancelled or rejected."
            )
        )


@contextmanager
def _photo_errors() -> Iterator[None]:
    """The document service names its errors by document kind; the update form calls the field "photos"."""
    try:
        yield
    except ValidationFailed as error:
        messages = [message for messages in error.fields.values() for message in messages]
        raise ValidationFailed(error.message, fields={"photos": messages}) from error
