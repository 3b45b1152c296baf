"""Reference data (regions, hospitals, disease ranges) kept in memory, one snapshot per process and database.

The tables are small and change only through `flask reference load` (services.reference_data.load_all), so the
pages read names, full region names and disease categories from here instead of loading rows and walking
`Region.parent` per request.

A snapshot is replaced:
- at once in the process that runs `load_all` (it calls `invalidate()`);
- when a code or id is not in it (a row added since it was read): it is read again once, and a key still missing
  after that is remembered as missing until the next snapshot;
- after `REFERENCE_CACHE_SECONDS` (default 300), so other processes (the web workers when the command ran
  elsewhere) pick up renamed rows within that time. Restart them to see a rename at once.

`version` is a digest of the contents: a re-read that finds the same rows keeps the same version, so caches of
rendered pages keyed by it stay valid.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from flask import current_app
from sqlalchemy import select
from sqlalchemy.engine import Engine

from fundraise.extensions import db
from fundraise.models import DiseaseRange, Hospital, Region
from fundraise.models.reference import join_region_names

DEFAULT_MAX_AGE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class RegionRef:
    code: str
    name_zh: str
    name_en: str
    level: str
    parent_code: str | None

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


@dataclass(frozen=True, slots=True)
class HospitalRef:
    id: int
    code: str
    name_zh: str
    name_en: str
    tier: str
    region_code: str

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


@dataclass(frozen=True, slots=True)
class DiseaseRef:
    id: int
    code_from: str
    code_to: str
    category: str
    name_zh: str
    name_en: str

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


@dataclass
class Snapshot:
    version: str
    loaded_at: float  # time.monotonic()
    regions: Mapping[str, RegionRef]
    hospitals: Mapping[int, HospitalRef]
    diseases: Mapping[int, DiseaseRef]
    categories: Mapping[str, tuple[DiseaseRef, ...]]  # each category's ranges by code_from
    missing: set[tuple[str, object]] = field(default_factory=set)
    _full_names: dict[tuple[str, str], str] = field(default_factory=dict)

    def full_name(self, code: str, locale: str) -> str:
        key = (code, locale)
        name = self._full_names.get(key)
        if name is None:
            chain = []
            seen = set()
            region = self.regions.get(code)
            while region is not None and region.code not in seen:
                seen.add(region.code)
                chain.append((region.name_zh, region.name_en))
                region = self.regions.get(region.parent_code) if region.parent_code else None
            name = join_region_names(chain, locale)
            self._full_names[key] = name
        return name


_snapshots: dict[str, Snapshot] = {}
_lock = threading.Lock()


def invalidate() -> None:
    """Forget every snapshot in this process (called by `load_all` after it commits)."""
    with _lock:
        _snapshots.clear()


_engine_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _engine_key() -> str:
    """The database this app reads (its URL), remembered per engine: rendering a URL costs more than a look-up."""
    engine = db.engine
    key = _engine_keys.get(engine)
    if key is None:
        key = _engine_keys.setdefault(engine, str(engine.url))
    return key


def _max_age() -> float:
    return float(current_app.config.get("REFERENCE_CACHE_SECONDS", DEFAULT_MAX_AGE_SECONDS))


def _read() -> Snapshot:
    regions = {
        r.code: RegionRef(r.code, r.name_zh, r.name_en, r.level, r.parent_code)
        for r in db.session.execute(
            select(Region.code, Region.name_zh, Region.name_en, Region.level, Region.parent_code)
        )
    }
    hospitals = {
        h.id: HospitalRef(h.id, h.code, h.name_zh, h.name_en, h.tier, h.region_code)
        for h in db.session.execute(
            select(
                Hospital.id,
                Hospital.code,
                Hospital.name_zh,
                Hospital.name_en,
                Hospital.tier,
                Hospital.region_code,
            )
        )
    }
    diseases = {
        d.id: DiseaseRef(d.id, d.code_from, d.code_to, d.category, d.name_zh, d.name_en)
        for d in db.session.execute(
            select(
                DiseaseRange.id,
                DiseaseRange.code_from,
                DiseaseRange.code_to,
                DiseaseRange.category,
                DiseaseRange.name_zh,
                DiseaseRange.name_en,
            )
        )
    }
    categories: dict[str, list[DiseaseRef]] = {}
    for disease in sorted(diseases.values(), key=lambda d: d.code_from):
        categories.setdefault(disease.category, []).append(disease)
    digest = hashlib.sha256()
    for rows in (
        sorted(regions.values(), key=lambda r: r.code),
        sorted(hospitals.values(), key=lambda h: h.id),
    ):
        digest.update(repr(rows).encode())
    digest.update(repr(sorted(diseases.values(), key=lambda d: d.id)).encode())
    return Snapshot(
        version=digest.hexdigest()[:16],
        loaded_at=time.monotonic(),
        regions=regions,
        hospitals=hospitals,
        diseases=diseases,
        categories={name: tuple(ranges) for name, ranges in categories.items()},
    )


def _reload(key: str) -> Snapshot:
    snapshot = _read()
    with _lock:
        _snapshots[key] = snapshot
    return snapshot


def current() -> Snapshot:
    """This process's snapshot for the app's database, read (3 small queries) when absent or too old."""
    key = _engine_key()
    snapshot = _snapshots.get(key)
    if snapshot is None or time.monotonic() - snapshot.loaded_at > _max_age():
        snapshot = _reload(key)
    return snapshot


def _lookup(kind: str, value: object) -> tuple[Snapshot, object | None]:
    snapshot = current()
    table: Mapping[object, object] = getattr(snapshot, kind)
    found = table.get(value)
    if found is None and (kind, value) not in snapshot.missing:
        snapshot = _reload(_engine_key())  # a row added since the snapshot was read
        found = getattr(snapshot, kind).get(value)
        if found is None:
            snapshot.missing.add((kind, value))
    return snapshot, found


def region(code: str | None) -> RegionRef | None:
    if not code:
        return None
    return cast("RegionRef | None", _lookup("regions", code)[1])


def hospital(hospital_id: int | None) -> HospitalRef | None:
    if hospital_id is None:
        return None
    return cast("HospitalRef | None", _lookup("hospitals", hospital_id)[1])


def disease(disease_id: int | None) -> DiseaseRef | None:
    if disease_id is None:
        return None
    return cast("DiseaseRef | None", _lookup("diseases", disease_id)[1])


def region_full_name(code: str | None, locale: str) -> str:
    """Province, prefecture and county in the locale's order ("" for no region or an unknown code)."""
    if not code:
        return ""
    snapshot, found = _lookup("regions", code)
    return snapshot.full_name(code, locale) if found is not None else ""


def category_ranges(category: str) -> tuple[DiseaseRef, ...]:
    """The disease ranges of a category by code ("()" for a category that does not exist)."""
    return current().categories.get(category, ())


def version() -> str:
    return current().version
