"""Erasing what may go, shared by a person's deletion request (fundraise/services/deletion.py) and the daily
retention run (fundraise/services/retention.py): drafts deleted whole, a case's personal fields cleared, its
documents deleted, and the per-person keys of the people concerned forgotten, so the details sealed for them in
the audit log become unreadable while every hash still verifies.

Nothing here touches the ledger or the audit log, and nothing here commits: the caller's unit of work does,
and only then does the caller delete the stored files (`unlink_files`), so a rollback never loses a file whose
row is still there."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, exists, select

from fundraise import person_keys
from fundraise.extensions import db
from fundraise.models import (
    Campaign,
    CampaignUpdate,
    Consent,
    Disbursement,
    Document,
    DocumentKind,
    Notification,
    VerificationReport,
    Voucher,
)
from fundraise.models.register import finding_documents
from fundraise.services.documents import upload_dir

# Kinds a closed case's evidence run deletes: bills stay as accounting vouchers, finding attachments stay with
# the officer's finding.
EVIDENCE_KINDS = (
    DocumentKind.PHOTO,
    DocumentKind.DIAGNOSIS,
    DocumentKind.COST_ESTIMATE,
    DocumentKind.IDENTITY,
    DocumentKind.HOUSEHOLD,
    DocumentKind.UPDATE_PHOTO,
    DocumentKind.REPORT_EVIDENCE,
)


def deletable_documents(campaign_ids: Sequence[int]) -> list[Document]:
    """The evidence documents of these campaigns that nothing else (a payment, a finding) refers to."""
    if not campaign_ids:
        return []
    return list(
        db.session.scalars(
            select(Document).where(
                Document.campaign_id.in_(campaign_ids),
                Document.kind.in_(EVIDENCE_KINDS),
                ~exists().where(Disbursement.bill_document_id == Document.id),
                ~exists().where(finding_documents.c.document_id == Document.id),
            )
        )
    )


def delete_documents(documents: Iterable[Document]) -> list[str]:
    """Delete the rows; the stored names to unlink once committed."""
    names = []
    for document in documents:
        names.append(document.stored_name)
        db.session.delete(document)
    db.session.flush()
    return names


def delete_drafts(campaigns: Sequence[Campaign], *, reason: str) -> list[str]:
    """Delete drafts never submitted, with everything that hangs off them; the files to unlink."""
    if not campaigns:
        return []
    ids = [campaign.id for campaign in campaigns]
    names = [
        document.stored_name
        for document in db.session.scalars(select(Document).where(Document.campaign_id.in_(ids)))
    ]
    forget_patients(campaigns, reason=reason)
    for table in (Document, CampaignUpdate, Notification, Consent, Voucher, VerificationReport):
        db.session.execute(delete(table).where(table.campaign_id.in_(ids)))
    # Expire the ORM's copies (and their document collections) before deleting the rows themselves.
    db.session.expire_all()
    db.session.execute(delete(Campaign).where(Campaign.id.in_(ids)))
    return names


def clear_case(campaign: Campaign, *, reason: str) -> list[str]:
    """Clear a decided case's personal fields and delete its evidence; the row stays, since payments,
    reports and audit events name it by id. The files to unlink."""
    names = delete_documents(deletable_documents([campaign.id]))
    forget_patients([campaign], reason=reason)
    campaign.story = ""
    campaign.patient_name = ""
    campaign.patient_id_ciphertext = None
    campaign.patient_id_masked = None
    campaign.patient_birth_date = None
    campaign.patient_sex = None
    campaign.treatment_plan = ""
    campaign.diagnosis_text = ""
    campaign.house_note = ""
    campaign.car_note = ""
    campaign.decision_reason = ""
    for report in db.session.scalars(
        select(VerificationReport).where(VerificationReport.campaign_id == campaign.id)
    ):
        report.report = None
        report.records_snapshot = None
    return names


def is_cleared(campaign: Campaign) -> bool:
    return campaign.patient_name == "" and campaign.patient_id_ciphertext is None


def forget_patients(campaigns: Iterable[Campaign], *, reason: str) -> int:
    """Forget the patients' keys, except for a patient another remaining case still belongs to."""
    campaigns = list(campaigns)
    ids = {campaign.id for campaign in campaigns}
    indexes = {campaign.patient_id_index for campaign in campaigns if campaign.patient_id_index}
    if not indexes:
        return 0
    shared = set(
        db.session.scalars(
            select(Campaign.patient_id_index).where(
                Campaign.patient_id_index.in_(indexes),
                Campaign.id.not_in(ids),
                Campaign.patient_id_ciphertext.is_not(None),
            )
        )
    )
    return person_keys.forget(
        [person_keys.subject_for_patient(index) for index in sorted(indexes - shared)], reason=reason
    )


def unlink_files(names: Iterable[str]) -> None:
    """Delete stored files whose rows are gone for good (called after the commit)."""
    folder = upload_dir()
    for name in names:
        (folder / name).unlink(missing_ok=True)
