"""Load the reference files under config/reference/ (regions, hospitals, disease catalogue) into the database.

Loading is an upsert by code, so it can be run again after the files change.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from config.settings import REFERENCE_DIR
from fundraise.extensions import db
from fundraise.models import DiseaseRange, Hospital, Region
from fundraise.services import reference_cache
from fundraise.unit_of_work import unit_of_work

LEVEL_ORDER = {"province": 0, "prefecture": 1, "county": 2}


@dataclass
class LoadResult:
    regions: int = 0
    hospitals: int = 0
    diseases: int = 0


class ReferenceFileError(ValueError):
    """A reference file is malformed; the message names the file and row."""


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [{key: (value or "").strip() for key, value in row.items()} for row in csv.DictReader(handle)]


def load_all(directory: Path = REFERENCE_DIR) -> LoadResult:
    """Upsert every reference file in one unit of work: a bad row leaves the database as it was."""
    result = LoadResult()
    with unit_of_work():
        result.regions = _load_regions(directory / "regions.csv")
        result.hospitals = _load_hospitals(directory / "hospitals.csv")
        result.diseases = _load_diseases(directory / "diseases.csv")
    # This process's cached copy (names on the pages) is read again; other processes re-read theirs within
    # REFERENCE_CACHE_SECONDS (services.reference_cache).
    reference_cache.invalidate()
    return result


def _load_regions(path: Path) -> int:
    rows = sorted(_rows(path), key=lambda r: (LEVEL_ORDER.get(r["level"], 9), r["code"]))
    existing = {r.code: r for r in db.session.scalars(select(Region))}
    for number, row in enumerate(rows, start=2):
        if len(row["code"]) != 6 or not row["code"].isdigit() or row["level"] not in LEVEL_ORDER:
            raise ReferenceFileError(f"{path.name} row {number}: bad code or level: {row}")
        region = existing.get(row["code"]) or Region(code=row["code"])
        region.name_zh, region.name_en, region.level = row["name_zh"], row["name_en"], row["level"]
        region.parent_code = row["parent_code"] or None
        if region.code not in existing:
            db.session.add(region)
            existing[region.code] = region
        db.session.flush()
    return len(rows)


def _load_hospitals(path: Path) -> int:
    rows = _rows(path)
    existing = {h.code: h for h in db.session.scalars(select(Hospital))}
    for number, row in enumerate(rows, start=2):
        if row["social_work"] not in ("yes", "no"):
            raise ReferenceFileError(f"{path.name} row {number}: social_work must be yes or no")
        hospital = existing.get(row["code"]) or Hospital(code=row["code"])
        for field in (
            "name_zh",
            "name_en",
            "tier",
            "region_code",
            "bank_name",
            "bank_account_name",
            "bank_account_number",
        ):
            setattr(hospital, field, row[field])
        hospital.social_work = row["social_work"] == "yes"
        if hospital.code not in existing:
            db.session.add(hospital)
    db.session.flush()
    return len(rows)


def _load_diseases(path: Path) -> int:
    rows = _rows(path)
    existing = {d.code_from: d for d in db.session.scalars(select(DiseaseRange))}
    for number, row in enumerate(rows, start=2):
        try:
            cost_min, cost_max = int(row["cost_min_yuan"]) * 100, int(row["cost_max_yuan"]) * 100
        except ValueError as error:
            raise ReferenceFileError(f"{path.name} row {number}: costs must be whole yuan") from error
        disease = existing.get(row["code_from"]) or DiseaseRange(code_from=row["code_from"])
        disease.code_to, disease.category = row["code_to"], row["category"]
        disease.name_zh, disease.name_en = row["name_zh"], row["name_en"]
        disease.cost_min_fen, disease.cost_max_fen = cost_min, cost_max
        if disease.code_from not in existing:
            db.session.add(disease)
    db.session.flush()
    return len(rows)
