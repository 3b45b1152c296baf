"""Government records a case is checked against: basic medical insurance enrolment, critical-illness
insurance entitlement and civil-affairs assistance status, and the import batches that brought them in.

A person is found by the blind index of their national ID number (`person_index`, see fundraise/pii.py); the
number itself is kept only as AES-GCM ciphertext. Each record carries the id it has in the source system
(`source_record_id`), so a feed re-sent with corrections updates rows instead of adding them, and a
`content_hash` of its values, so an unchanged row is never rewritten (importing a file twice changes
nothing). The feed formats are in fundraise/services/records_import.py.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fundraise.extensions import db
from fundraise.models.columns import UTCDateTime, utcnow


class RecordKind(enum.StrEnum):
    """The three feeds; the value is what `flask records import --kind` and the API take."""

    BASIC_ENROLMENT = "basic_enrolment"
    CRITICAL_ILLNESS = "critical_illness"
    CIVIL_AFFAIRS = "civil_affairs"


class InsuranceScheme(enum.StrEnum):
    # 职工基本医疗保险 and 城乡居民基本医疗保险.
    EMPLOYEE = "employee"
    RESIDENT = "resident"


class AssistanceClass(enum.StrEnum):
    """Civil-affairs classes that entitle a household to medical assistance (医疗救助)."""

    TEKUN = "tekun"  # 特困人员, people in extreme poverty
    DIBAO = "dibao"  # 低保对象, minimum-subsistence households
    DIBAO_EDGE = "dibao_edge"  # 低保边缘家庭成员, households just above the dibao line
    MONITORED = "monitored"  # 防止返贫监测对象, monitored against falling back into poverty
    ILLNESS_IMPOVERISHED = "illness_impoverished"  # 因病致贫重病患者, impoverished by serious illness
    RETURNED_TO_POVERTY = "returned_to_poverty"  # 返贫致贫人口, fallen (back) into poverty


class ImportStatus(enum.StrEnum):
    IMPORTED = "imported"
    REJECTED = "rejected"


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in kind)


class _PersonRecord:
    """Columns every record table has: where it came from, whose it is, and when it was last written."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # The record's id in the sending system. Unique per issuing region (the pooling region of an insurance
    # record, the county of a civil-affairs one), not globally: two regions' systems may use the same ids,
    # and a feed can only ever update records of the region that issued them.
    source_record_id: Mapped[str] = mapped_column(String(64))
    person_index: Mapped[str] = mapped_column(String(64), index=True)
    person_id_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    person_name: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    # None: open-ended, still valid.
    valid_to: Mapped[date | None] = mapped_column(Date)
    # sha256 of the record's values (with person_index standing for the ID number): equal hash, no write.
    content_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The batch that last inserted or changed this row.
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), index=True)


class BasicEnrolmentRecord(_PersonRecord, db.Model):
    """Enrolment in basic medical insurance for one year, with what it has reimbursed so far that year."""

    __tablename__ = "basic_enrolment_records"
    __table_args__ = (
        CheckConstraint(f"scheme IN ({_values(InsuranceScheme)})", name="scheme"),
        CheckConstraint("ytd_reimbursed_fen >= 0", name="ytd_reimbursed"),
        CheckConstraint(
            "ytd_in_policy_self_pay_fen IS NULL OR ytd_in_policy_self_pay_fen >= 0", name="ytd_self_pay"
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        UniqueConstraint("pooling_region_code", "source_record_id", name="uq_basic_enrolment_records_issued"),
    )
    issuer_field = "pooling_region_code"

    scheme: Mapped[str] = mapped_column(String(16))
    pooling_region_code: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int] = mapped_column(Integer)
    ytd_reimbursed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The in-policy cost the person paid this year after basic insurance; None: the feed did not say.
    ytd_in_policy_self_pay_fen: Mapped[int | None] = mapped_column(BigInteger)
    # The day the year-to-date figures stand at; None: taken as standing before any treatment checked.
    ytd_as_of: Mapped[date | None] = mapped_column(Date)


class CriticalIllnessRecord(_PersonRecord, db.Model):
    """Entitlement to critical-illness insurance (大病保险), with what it has paid so far this year."""

    __tablename__ = "critical_illness_records"
    __table_args__ = (
        CheckConstraint("ytd_paid_fen >= 0", name="ytd_paid"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        UniqueConstraint(
            "pooling_region_code", "source_record_id", name="uq_critical_illness_records_issued"
        ),
    )
    issuer_field = "pooling_region_code"

    entitled: Mapped[bool] = mapped_column()
    pooling_region_code: Mapped[str] = mapped_column(String(6), index=True)
    ytd_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    ytd_as_of: Mapped[date | None] = mapped_column(Date)


class CivilAffairsRecord(_PersonRecord, db.Model):
    """A person's civil-affairs assistance class and the household facts it was granted on."""

    __tablename__ = "civil_affairs_records"
    __table_args__ = (
        CheckConstraint(f"assistance_class IN ({_values(AssistanceClass)})", name="assistance_class"),
        CheckConstraint("household_size >= 1", name="household_size"),
        CheckConstraint("monthly_household_income_fen >= 0 AND ytd_assistance_paid_fen >= 0", name="amounts"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity"),
        UniqueConstraint("region_code", "source_record_id", name="uq_civil_affairs_records_issued"),
    )
    issuer_field = "region_code"

    assistance_class: Mapped[str] = mapped_column(String(24))
    household_size: Mapped[int] = mapped_column(Integer)
    monthly_household_income_fen: Mapped[int] = mapped_column(BigInteger)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    ytd_assistance_paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    ytd_as_of: Mapped[date | None] = mapped_column(Date)


class ImportBatch(db.Model):
    """One feed file offered for import: what it was, who sent it, and what became of its rows.

    A rejected batch wrote no records; `error_report` lists its faults row by row
    ([{"row", "column", "value", "code", "params", "message"}], ID numbers masked): the fault's code and
    parameters, worded for each reader by fundraise/records_text.py, and its English message. Batches
    refused before faults had codes hold only the message. `file_format` is csv, json or xlsx.
    """

    __tablename__ = "import_batches"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(RecordKind)})", name="kind"),
        CheckConstraint(f"status IN ({_values(ImportStatus)})", name="status"),
        CheckConstraint(
            "rows_total >= 0 AND rows_inserted >= 0 AND rows_updated >= 0 AND rows_unchanged >= 0"
            " AND rows_rejected >= 0",
            name="counts",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    source_name: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    error_report: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # None: run from the command line without --as (an operator on the server).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
