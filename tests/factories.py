"""factory_boy factories. They flush, never commit: the test (or the service under test) commits."""

from __future__ import annotations

from datetime import date
from typing import Any

import factory
from sqlalchemy import select

from fundraise import pii
from fundraise.extensions import db
from fundraise.models import Campaign, CampaignState, Charity, Consent, Document, Hospital, Role, User
from fundraise.models.columns import utcnow
from fundraise.privacy_notice import NOTICE_VERSION
from fundraise.services.accounts import hash_password
from verification.identity import make_resident_id

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose; hash once for the whole run


class _Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


def hospital(code: str = "AH-PROV") -> Hospital:
    found = db.session.scalar(select(Hospital).where(Hospital.code == code))
    assert found is not None, code
    return found


class CharityFactory(_Base):
    class Meta:
        model = Charity

    code = factory.Sequence(lambda n: f"CH{n:03d}")
    name_zh = factory.Sequence(lambda n: f"测试慈善基金会{n}")
    name_en = factory.Sequence(lambda n: f"Test Charity Foundation {n}")
    credit_code = factory.Sequence(lambda n: f"53100000{n:010d}")
    region_code = "110105"


class UserFactory(_Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.cn")
    name = factory.Sequence(lambda n: f"用户{n}")
    password_hash = _PASSWORD_HASH
    role = Role.FAMILY

    class Params:
        social_worker = factory.Trait(role=Role.SOCIAL_WORKER, hospital=factory.LazyFunction(hospital))
        charity_staff = factory.Trait(role=Role.CHARITY_STAFF, charity=factory.SubFactory(CharityFactory))
        officer = factory.Trait(role=Role.CIVIL_AFFAIRS_OFFICER, jurisdiction_code="341200")
        admin = factory.Trait(role=Role.ADMIN)
        donor = factory.Trait(role=Role.DONOR)


def user_of_role(role: str) -> User:
    """One user of the given role, with the organisation or area that role needs."""
    traits: dict[str, Any] = {
        "family": {},
        "donor": {"donor": True},
        "social_worker": {"social_worker": True},
        "charity_staff": {"charity_staff": True},
        "civil_affairs_officer": {"officer": True},
        "admin": {"admin": True},
    }[role]
    return UserFactory(**traits)


class CampaignFactory(_Base):
    """A complete draft for a 7-year-old in Linquan county with leukaemia, treated at Anhui Provincial."""

    class Meta:
        model = Campaign

    applicant = factory.SubFactory(UserFactory)
    state = CampaignState.DRAFT
    title = "请帮助小明战胜白血病"
    story = "小明今年七岁，确诊急性淋巴细胞白血病，正在安徽省立医院接受化疗。"
    patient_name = "王小明"
    patient_region_code = "341221"
    patient_birth_date = date(2019, 5, 1)
    patient_sex = "M"
    relationship_to_patient = "parent"
    diagnosis_icd10 = "C91.0"
    diagnosis_text = "急性淋巴细胞白血病"
    disease_range_id = factory.LazyFunction(lambda: _disease_code_for("C91.0"))
    hospital = factory.LazyFunction(lambda: hospital("AH-PROV"))
    admitted_on = date(2026, 9, 1)
    # Anhui Provincial lies outside Linquan's pooling region (Fuyang): the family says the treatment was
    # referred and filed, and the answer counts as confirmed whenever the stay is.
    referral_filed = True
    referral_confirmed_at = factory.LazyAttribute(lambda o: getattr(o, "stay_confirmed_at", None))
    referral_confirmed_by_id = factory.LazyAttribute(lambda o: getattr(o, "stay_confirmed_by_id", None))
    treatment_plan = "诱导化疗及巩固治疗，约两年。"
    cost_total_fen = 40_000_000
    cost_in_policy_fen = 30_000_000
    target_fen = 15_000_000
    household_income_fen = 4_800_000
    household_size = 4
    owns_house = True
    house_note = "老家自建房一处"
    owns_car = False
    patient_id_sequence = factory.Sequence(lambda n: n % 100)

    @factory.lazy_attribute
    def patient_id_index(self) -> str:
        return pii.blind_index(self._id_number)

    @factory.lazy_attribute
    def patient_id_ciphertext(self) -> bytes:
        return pii.encrypt_id(self._id_number)

    @factory.lazy_attribute
    def patient_id_masked(self) -> str:
        return pii.mask_id(self._id_number)

    @factory.lazy_attribute
    def _id_number(self) -> str:
        return make_resident_id("341221", self.patient_birth_date, self.patient_sex, self.patient_id_sequence)

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("_id_number", None)
        kwargs.pop("patient_id_sequence", None)
        return kwargs

    class Params:
        # A complete case: its evidence, and the guardian's consents a submission needs (the patient is 7).
        with_evidence = factory.Trait(
            evidence=factory.RelatedFactoryList(
                "tests.factories.DocumentFactory",
                factory_related_name="campaign",
                size=3,
                kind=factory.Iterator(["diagnosis", "cost_estimate", "identity"]),
            ),
            consents=factory.RelatedFactoryList(
                "tests.factories.ConsentFactory",
                factory_related_name="campaign",
                size=2,
                purpose=factory.Iterator(["sensitive_processing", "public_page"]),
            ),
        )


def _disease_code_for(code: str) -> int:
    from fundraise.services.filing import disease_for_code

    found = disease_for_code(code)
    assert found is not None, code
    return found.id


class DocumentFactory(_Base):
    class Meta:
        model = Document

    campaign = factory.SubFactory(CampaignFactory)
    kind = "diagnosis"
    stored_name = factory.Sequence(lambda n: f"test-{n:08d}.pdf")
    original_name = "诊断证明.pdf"
    content_type = "application/pdf"
    size_bytes = 1024
    sha256 = "0" * 64
    uploaded_by_id = factory.LazyAttribute(lambda d: d.campaign.applicant_id)


class ConsentFactory(_Base):
    """A guardian's consent, as a parent filing for a child gives it."""

    class Meta:
        model = Consent

    campaign = factory.SubFactory(CampaignFactory)
    user_id = factory.LazyAttribute(lambda c: c.campaign.applicant_id)
    purpose = "sensitive_processing"
    basis = "guardian"
    guardian_relationship = "parent"
    notice_version = NOTICE_VERSION
    given_at = factory.LazyFunction(utcnow)
