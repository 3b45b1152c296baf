"""The register's anomaly rules: each with a case that flags and one that does not."""

from __future__ import annotations

import datetime

from verification.anomalies import (
    Aid,
    Gift,
    Payout,
    ReportState,
    aid_above_cost,
    bulk_refunds,
    disclosure_mismatch,
    duplicate_patient,
    many_gifts_one_payer,
    other_hospital,
    records_changed,
)

T0 = datetime.datetime(2026, 5, 1, 9, 0, tzinfo=datetime.UTC)


def _report(**overrides: object) -> ReportState:
    values: dict[str, object] = {"report_id": 7, "created_at": T0, "decision": "verified"}
    values.update(overrides)
    return ReportState(**values)  # type: ignore[arg-type]


def test_aid_above_cost() -> None:
    flagged = aid_above_cost(Aid(1, 100_000, basic_fen=60_000, assistance_fen=20_000, raised_fen=30_000))
    assert [a.code for a in flagged] == ["aid_above_cost"]
    assert flagged[0].params["excess_fen"] == 10_000
    assert aid_above_cost(Aid(1, 100_000, basic_fen=60_000, committed_fen=20_000, raised_fen=20_000)) == []


def test_duplicate_patient() -> None:
    flagged = duplicate_patient(3, [3, 9, 5])
    assert flagged[0].code == "duplicate_patient"
    assert flagged[0].params == {"count": 2, "other_id": 5}
    assert (flagged[0].evidence_kind, flagged[0].evidence_id) == ("campaign", 5)
    assert duplicate_patient(3, [3]) == []


def test_records_changed_outcome_unacknowledged() -> None:
    flagged = records_changed(
        _report(changed_outcome=True, previous_decision="verified", decision="rejected"), None
    )
    assert flagged[0].params["reason"] == "outcome_changed"
    assert (flagged[0].evidence_kind, flagged[0].evidence_id) == ("report", 7)
    assert records_changed(_report(changed_outcome=True, acknowledged=True), None) == []


def test_records_changed_after_the_report() -> None:
    later = T0 + datetime.timedelta(days=1)
    assert records_changed(_report(), later)[0].params == {"reason": "records_newer"}
    assert records_changed(_report(), T0 - datetime.timedelta(days=1)) == []
    assert records_changed(None, later) == []


def test_disclosure_mismatch() -> None:
    check = {"status": "needs_review", "reason_code": "disclosure_mismatch", "params": {"fields": "income"}}
    flagged = disclosure_mismatch(_report(disclosure=check))
    assert flagged[0].code == "disclosure_mismatch"
    assert flagged[0].params == {"fields": "income"}
    not_checked = {"status": "not_checked", "reason_code": "disclosure_no_record", "params": {}}
    assert disclosure_mismatch(_report(disclosure=not_checked)) == []
    passed = {"status": "pass", "reason_code": "disclosure_consistent", "params": {}}
    assert disclosure_mismatch(_report(disclosure=passed)) == []


def test_other_hospital() -> None:
    flagged = other_hospital(4, [Payout(11, 4, 500), Payout(12, 8, 900)])
    assert [(a.code, a.evidence_id) for a in flagged] == [("other_hospital", 12)]
    assert other_hospital(4, [Payout(11, 4, 500)]) == []


def test_many_gifts_one_payer() -> None:
    flagged = many_gifts_one_payer(2, {"donor:1": 5, "email:a@example.org": 1})
    assert flagged[0].params == {"count": 5, "payers": 1}
    assert (flagged[0].evidence_kind, flagged[0].evidence_id) == ("donations", 2)
    assert many_gifts_one_payer(2, {"donor:1": 4, "donor:2": 4}) == []


def test_bulk_refunds_within_a_day() -> None:
    hour = datetime.timedelta(hours=1)
    gifts = [Gift(1, T0), Gift(2, T0 + 5 * hour), Gift(3, T0 + 23 * hour), Gift(4, None)]
    flagged = bulk_refunds(6, gifts)
    assert flagged[0].params == {"count": 3, "first": "2026-05-01"}
    spread = [Gift(1, T0), Gift(2, T0 + 20 * hour), Gift(3, T0 + 25 * hour)]
    assert bulk_refunds(6, spread) == []
