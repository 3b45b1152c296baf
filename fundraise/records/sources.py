"""Where verification gets a person's records: a port (`RecordSource`) and two adapters.

`DatabaseSource` answers from the tables that `flask records import` fills; `HttpSource` asks a live
government service over the JSON contract in fundraise/records/CONTRACT.md. `configured_source()` picks one
from the app's settings (RECORDS_SERVICE_URL set: HTTP; otherwise the database).

The records come back as the verification core's own plain dataclasses (verification/records.py: `Records`
of `BasicEnrolment`, `CriticalIllnessEntitlement`, `CivilAffairsStatus`), each list ordered by valid_from
then source id. Two things of the feeds do not carry over because the core has no use for them: an
enrolment's `year` (its validity dates say when it applies) and critical-illness rows with
`entitled=false` (no entitlement is no record). Amounts are integer fen, `valid_to=None` means open-ended.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from fundraise.database import any_of
from fundraise.extensions import db
from fundraise.models.records import (
    BasicEnrolmentRecord,
    CivilAffairsRecord,
    CriticalIllnessRecord,
    RecordKind,
)
from fundraise.records.feeds import china_today, parse_row
from verification.identity import IdNumberError, parse_resident_id
from verification.records import BasicEnrolment, CivilAffairsStatus, CriticalIllnessEntitlement, Records


class RecordSourceUnavailable(Exception):
    """The source could not give a trustworthy answer (down, slow, refused us, or answered nonsense).

    Verification treats this as "cannot decide now" (needs review or retry), never as "no records".
    """


class RecordSource(Protocol):
    def records_for(self, person_index: str, id_number: str) -> Records:
        """The person's records. `person_index` is the blind index of `id_number` (fundraise.pii): the
        database finds people by it, a live service by the number itself. Raises RecordSourceUnavailable."""
        ...


def _getter(source: Mapping[str, Any] | object) -> Callable[[str], Any]:
    """Read fields from a dict of parsed feed values or from an ORM row: both use the feed's field names."""
    if isinstance(source, Mapping):
        return source.__getitem__
    return lambda name: getattr(source, name)


def basic_enrolment(source: Mapping[str, Any] | object) -> BasicEnrolment:
    get = _getter(source)
    return BasicEnrolment(
        person_name=get("person_name"),
        scheme=get("scheme"),
        pooling_region=get("pooling_region_code"),
        valid_from=get("valid_from"),
        valid_to=get("valid_to"),
        ytd_reimbursed_fen=get("ytd_reimbursed_fen"),
        source_record_id=get("source_record_id"),
        ytd_in_policy_self_pay_fen=get("ytd_in_policy_self_pay_fen"),
        ytd_as_of=get("ytd_as_of"),
    )


def critical_illness_entitlement(source: Mapping[str, Any] | object) -> CriticalIllnessEntitlement | None:
    """The entitlement a critical-illness record grants, or None when it says `entitled=false`."""
    get = _getter(source)
    if not get("entitled"):
        return None
    return CriticalIllnessEntitlement(
        person_name=get("person_name"),
        pooling_region=get("pooling_region_code"),
        valid_from=get("valid_from"),
        valid_to=get("valid_to"),
        ytd_reimbursed_fen=get("ytd_paid_fen"),
        source_record_id=get("source_record_id"),
        ytd_as_of=get("ytd_as_of"),
    )


def civil_affairs_status(source: Mapping[str, Any] | object) -> CivilAffairsStatus:
    get = _getter(source)
    return CivilAffairsStatus(
        person_name=get("person_name"),
        assistance_class=get("assistance_class"),
        valid_from=get("valid_from"),
        valid_to=get("valid_to"),
        household_size=get("household_size"),
        monthly_household_income_fen=get("monthly_household_income_fen"),
        region_code=get("region_code"),
        source_record_id=get("source_record_id"),
        ytd_assistance_fen=get("ytd_assistance_paid_fen"),
        ytd_as_of=get("ytd_as_of"),
    )


T = TypeVar("T", BasicEnrolment, CriticalIllnessEntitlement, CivilAffairsStatus)


def _ordered(entries: Iterable[T | None]) -> tuple[T, ...]:
    present = [entry for entry in entries if entry is not None]
    return tuple(sorted(present, key=lambda entry: (entry.valid_from, entry.source_record_id)))


class DatabaseSource:
    """Records imported into this database (fundraise/services/records_import.py)."""

    def records_for(self, person_index: str, id_number: str) -> Records:
        return self.records_for_many([person_index]).get(person_index, Records())

    def records_for_many(self, person_indexes: Collection[str]) -> dict[str, Records]:
        """The records of many people, one query per table (batch verification); people without any are
        left out."""
        found: dict[str, dict[str, list[Any]]] = {}
        wanted = list(person_indexes)
        for key, model, read in (
            ("enrolments", BasicEnrolmentRecord, basic_enrolment),
            ("critical_illness", CriticalIllnessRecord, critical_illness_entitlement),
            ("civil_affairs", CivilAffairsRecord, civil_affairs_status),
        ):
            # Plain rows, not ORM objects: the readers take attributes by the feed's field names either way,
            # and rows are several times cheaper to load.
            rows = db.session.execute(select(*model.__table__.c).where(any_of(model.person_index, wanted)))
            for row in rows:
                found.setdefault(row.person_index, {}).setdefault(key, []).append(read(row))
        return {
            index: Records(
                enrolments=_ordered(lists.get("enrolments", ())),
                critical_illness=_ordered(lists.get("critical_illness", ())),
                civil_affairs=_ordered(lists.get("civil_affairs", ())),
            )
            for index, lists in found.items()
        }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would carry our bearer token to wherever it points; the contract has none, so refuse.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# The response keys of the contract, the feed kind whose columns their items use, and how each is read.
_RESPONSE_KEYS: tuple[tuple[str, RecordKind, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("basic_enrolments", RecordKind.BASIC_ENROLMENT, basic_enrolment),
    ("critical_illness", RecordKind.CRITICAL_ILLNESS, critical_illness_entitlement),
    ("civil_affairs", RecordKind.CIVIL_AFFAIRS, civil_affairs_status),
)


class HttpSource:
    """A live records service speaking fundraise/records/CONTRACT.md.

    `timeout` (seconds) bounds connecting and each wait for data. Every failure becomes
    RecordSourceUnavailable with a reason fit for a log; the ID number never appears in it.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, max_bytes: int = 5_000_000) -> None:
        parts = urlsplit(base_url)
        loopback = parts.hostname in {"127.0.0.1", "::1", "localhost"}
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("the records service must be reached over https (plain http only on loopback)")
        if not token:
            raise ValueError("the records service needs a bearer token")
        self.url = base_url.rstrip("/") + "/v1/person-records"
        self.token = token
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._opener = urllib.request.build_opener(_NoRedirects())

    def records_for(self, person_index: str, id_number: str) -> Records:
        try:
            number = parse_resident_id(id_number).number
        except IdNumberError as error:
            raise ValueError("records_for needs a well-formed identity number") from error
        body = self._post({"id_number": number})
        return self._read(body, number)

    def _post(self, payload: dict[str, str]) -> bytes:
        request = urllib.request.Request(  # noqa: S310  (the scheme is checked in __init__)
            self.url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                if response.status != 200:
                    raise RecordSourceUnavailable(f"records service answered HTTP {response.status}")
                body: bytes = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as error:
            reason = {401: "refused our token", 403: "refused our token"}.get(error.code, "failed")
            raise RecordSourceUnavailable(f"records service {reason} (HTTP {error.code})") from None
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise RecordSourceUnavailable(f"records service unreachable: {_reason(error)}") from None
        if len(body) > self.max_bytes:
            raise RecordSourceUnavailable("records service answer is too large")
        return body

    def _read(self, body: bytes, number: str) -> Records:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RecordSourceUnavailable("records service answered with malformed JSON") from None
        if not isinstance(document, dict):
            raise RecordSourceUnavailable("records service answer is not a JSON object")
        found: dict[str, tuple[Any, ...]] = {}
        today = china_today()
        for key, kind, read in _RESPONSE_KEYS:
            items = document.get(key)
            if not isinstance(items, list):
                raise RecordSourceUnavailable(f"records service answer has no list {key!r}")
            entries = []
            for position, item in enumerate(items, start=1):
                if not isinstance(item, dict):
                    raise RecordSourceUnavailable(f"{key} item {position} is not an object")
                values, faults = parse_row(kind, item, today=today)
                if faults:
                    listed = "; ".join(f"{fault.column or 'row'} {fault.message}" for fault in faults)
                    raise RecordSourceUnavailable(f"{key} item {position} is malformed: {listed}")
                if values["id_number"] != number:
                    raise RecordSourceUnavailable(f"{key} item {position} is about another person")
                entries.append(read(values))
            found[key] = _ordered(entries)
        return Records(
            enrolments=found["basic_enrolments"],
            critical_illness=found["critical_illness"],
            civil_affairs=found["civil_affairs"],
        )


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return "timed out"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return type(error).__name__


def configured_source() -> RecordSource:
    """The source the app is configured for: RECORDS_SERVICE_URL (+ RECORDS_SERVICE_TOKEN,
    RECORDS_SERVICE_TIMEOUT seconds) selects the live service; without it, the imported tables."""
    config = current_app.config
    url = config.get("RECORDS_SERVICE_URL")
    if not url:
        return DatabaseSource()
    return HttpSource(
        url,
        config.get("RECORDS_SERVICE_TOKEN") or "",
        timeout=float(config.get("RECORDS_SERVICE_TIMEOUT") or 10.0),
    )
