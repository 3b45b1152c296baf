"""Reference data: administrative regions, the hospital registry and the critical-illness catalogue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundraise.extensions import db


def join_region_names(chain: Sequence[tuple[str, str]], locale: str) -> str:
    """A region's full name from its (name_zh, name_en) chain, the region itself first and its province last:
    "广东省广州市天河区" in Chinese, "Tianhe District, Guangzhou, Guangdong" in English. The municipalities'
    市辖区 level is skipped. The one rule for Region.full_name and the cached reference data."""
    zh = locale.startswith("zh")
    parts = [name_zh if zh else name_en for name_zh, name_en in chain if not name_zh.endswith("市辖区")]
    return "".join(reversed(parts)) if zh else ", ".join(parts)


class Region(db.Model):
    """A GB/T 2260 administrative region: province, prefecture or county."""

    __tablename__ = "regions"
    __table_args__ = (CheckConstraint("level IN ('province', 'prefecture', 'county')", name="level"),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)

    parent: Mapped[Region | None] = relationship(remote_side=[code])

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

    def full_name(self, locale: str) -> str:
        """Province / prefecture / county, skipping the municipalities' 市辖区 level."""
        chain = []
        region: Region | None = self
        while region is not None:
            chain.append((region.name_zh, region.name_en))
            region = region.parent
        return join_region_names(chain, locale)


class Hospital(db.Model):
    """A registered hospital: payouts only ever go to its settlement account."""

    __tablename__ = "hospitals"
    __table_args__ = (CheckConstraint("tier IN ('tertiary', 'secondary', 'primary')", name="tier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(256))
    tier: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    bank_name: Mapped[str] = mapped_column(String(128))
    bank_account_name: Mapped[str] = mapped_column(String(128))
    bank_account_number: Mapped[str] = mapped_column(String(64))
    social_work: Mapped[bool] = mapped_column(default=False)

    region: Mapped[Region] = relationship()

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class DiseaseRange(db.Model):
    """A range of ICD-10 codes that belongs to one critical-illness category, with a plausible cost range."""

    __tablename__ = "disease_ranges"
    __table_args__ = (CheckConstraint("cost_min_fen >= 0 AND cost_max_fen >= cost_min_fen", name="costs"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_from: Mapped[str] = mapped_column(String(8), unique=True)
    code_to: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(64), index=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(256))
    cost_min_fen: Mapped[int] = mapped_column(BigInteger)
    cost_max_fen: Mapped[int] = mapped_column(BigInteger)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en
