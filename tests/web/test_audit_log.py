"""The audit log: appended without a lock, sealed after commit, checkpointed and signed; every kind of
tampering is caught and named by `flask audit verify`, with or without checkpoints saved elsewhere."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from fundraise import audit, audit_verification
from fundraise.extensions import db
from fundraise.models import AuditCheckpoint, AuditEvent

SAVED_OTHER_KEY = "b3RoZXItcGFydHktc2lnbmluZy1rZXktZm9yLXRlc3Q="  # 32 bytes: somebody else's key


def _events(n: int, start: int = 0) -> None:
    for number in range(start, start + n):
        audit.record("test.event", "thing", number, actor=None, after={"n": number})
    db.session.commit()


def _ids() -> list[int]:
    return list(db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.seq)))


def _verify(runner: Any, *args: str) -> Any:
    return runner.invoke(args=["audit", "verify", *args])


def _save_checkpoints(client: Any, path: Path) -> Path:
    response = client.get("/api/v1/audit/checkpoints")
    assert response.status_code == 200
    path.write_text(response.get_data(as_text=True), encoding="utf-8")
    return path


# ---- appending and sealing


def test_events_are_sealed_after_the_commit_that_wrote_them(app: Flask, runner: Any) -> None:
    _events(5)
    rows = db.session.execute(
        select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash).order_by(AuditEvent.id)
    ).all()
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 5))
    checkpoint = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
    assert checkpoint is not None
    assert (checkpoint.seq, checkpoint.head_hash) == (5, rows[-1].hash)
    result = _verify(runner)
    assert result.exit_code == 0, result.output
    assert "audit log intact: 5 events" in result.output
    assert "0 events not sealed yet" in result.output


def test_events_of_a_rolled_back_transaction_are_never_sealed(app: Flask) -> None:
    audit.record("test.event", "thing", 1, actor=None)
    db.session.rollback()
    _events(1)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1
    assert audit_verification.verify_log().intact


def test_without_sealing_after_commit_events_wait_for_the_sealer(app: Flask, runner: Any) -> None:
    app.config["AUDIT_SEAL_AFTER_COMMIT"] = False
    _events(3)
    assert db.session.scalar(select(func.count()).where(AuditEvent.seq.is_(None))) == 3
    result = _verify(runner)
    assert result.exit_code == 0
    assert "3 events not sealed yet, the oldest written" in result.output
    sealed = runner.invoke(args=["audit", "seal"])
    assert "sealed 3 events; the chain ends at event 3; 1 checkpoint written" in sealed.output
    assert "0 events not sealed yet" in _verify(runner).output


def test_a_sealer_that_fails_half_way_leaves_nothing_half_sealed(app: Flask, monkeypatch: Any) -> None:
    app.config["AUDIT_SEAL_AFTER_COMMIT"] = False
    _events(4)

    def broken_sign(self: Any, data: bytes) -> bytes:
        raise RuntimeError("the signer died")

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = audit.signing_key()
    monkeypatch.setattr(audit, "signing_key", lambda: key)
    monkeypatch.setattr(type(key), "sign", broken_sign, raising=False)
    with pytest.raises(RuntimeError, match="the signer died"):
        audit.seal()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(AuditEvent.seq.is_not(None))) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0
    monkeypatch.undo()
    db.session.rollback()  # SQLite: the counts above began a transaction that holds the write lock
    assert isinstance(audit.signing_key(), Ed25519PrivateKey)
    assert audit.seal().sealed == 4
    assert audit_verification.verify_log().intact


def test_two_sealers_started_together_seal_each_event_once(app: Flask) -> None:
    app.config["AUDIT_SEAL_AFTER_COMMIT"] = False
    _events(300)
    start = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                results.append(audit.seal(batch_size=50).sealed)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(results) == 300
    seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, 301))
    assert audit_verification.verify_log().intact


# ---- tampering, each caught and named


def test_an_edited_event_is_named(app: Flask, runner: Any) -> None:
    _events(5)
    third = _ids()[2]
    db.session.execute(
        text("UPDATE audit_events SET after = :after WHERE id = :id"), {"after": '{"n": 99}', "id": third}
    )
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1
    assert (
        f"BROKEN (altered): audit event {third} (seq 3): its contents do not match its hash" in result.output
    )


def test_an_event_deleted_in_the_middle_is_named(app: Flask, runner: Any) -> None:
    _events(5)
    ids = _ids()
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1
    assert (
        f"BROKEN (missing): events with seq 2 to 2 are missing (deleted) before audit event {ids[2]}"
        in result.output
    )


def test_the_newest_events_deleted_are_caught_by_the_last_checkpoint(app: Flask, runner: Any) -> None:
    _events(6)
    db.session.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1
    assert (
        "says the chain reached event 6, but it now ends at 4: the newest events were deleted"
        in result.output
    )


def test_the_newest_events_and_checkpoints_deleted_are_caught_by_a_saved_copy(
    app: Flask, runner: Any, client: Any, tmp_path: Path
) -> None:
    _events(6)
    saved = _save_checkpoints(client, tmp_path / "checkpoints.json")
    # Whoever cut the log also removed the checkpoints that would show it: the log alone now looks whole.
    db.session.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    db.session.execute(text("DELETE FROM audit_checkpoints WHERE seq > 4"))
    db.session.commit()
    assert _verify(runner).exit_code == 0
    result = _verify(runner, "--against", str(saved))
    assert result.exit_code == 1
    assert f"saved checkpoint 1 of {saved}, signed" in result.output
    assert "the newest events were deleted" in result.output


def test_two_events_swapped_are_named(app: Flask, runner: Any) -> None:
    _events(5)
    ids = _ids()
    # Swap the places of the second and fourth events.
    db.session.execute(
        text("UPDATE audit_events SET seq = -seq WHERE id IN (:a, :b)"), {"a": ids[1], "b": ids[3]}
    )
    db.session.execute(text("UPDATE audit_events SET seq = 4 WHERE id = :a"), {"a": ids[1]})
    db.session.execute(text("UPDATE audit_events SET seq = 2 WHERE id = :b"), {"b": ids[3]})
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1
    assert f"BROKEN (relinked): audit event {ids[3]} (seq 2)" in result.output


def test_a_rewritten_log_no_longer_matches_its_checkpoint(app: Flask, runner: Any) -> None:
    _events(3)
    # Someone edits an event and recomputes every hash after it, so the chain links up again.
    first = _ids()[0]
    db.session.execute(
        text("UPDATE audit_events SET after = :after WHERE id = :id"), {"after": '{"n": 7}', "id": first}
    )
    prev = audit.GENESIS_HASH
    db.session.expire_all()
    for row in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all():
        new_hash = audit.chain_hash(prev, audit.event_body(row))
        db.session.execute(
            text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
            {"p": prev, "h": new_hash, "id": row.id},
        )
        prev = new_hash
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1
    assert "BROKEN (fork)" in result.output
    assert "the log was rewritten after that checkpoint" in result.output


def test_a_forged_checkpoint_is_named(app: Flask, runner: Any) -> None:
    _events(3)
    checkpoint = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
    assert checkpoint is not None
    db.session.execute(text("UPDATE audit_checkpoints SET seq = 99 WHERE id = :id"), {"id": checkpoint.id})
    db.session.commit()
    result = _verify(runner)
    assert result.exit_code == 1
    assert (
        f"BROKEN (signature): checkpoint #{checkpoint.id} (seq 99) has a signature that does not match"
        in result.output
    )


def test_a_checkpoint_file_that_is_not_ours_is_named(app: Flask, runner: Any, tmp_path: Path) -> None:
    _events(2)
    other = audit.load_signing_key(SAVED_OTHER_KEY)
    sealed_at = "2026-12-03T00:00:00+00:00"
    head = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 2))
    assert head is not None
    signer = audit.key_id(other)
    signature = other.sign(audit.checkpoint_payload(2, head, sealed_at, signer))
    path = tmp_path / "theirs.json"
    path.write_text(
        json.dumps(
            {
                "checkpoints": [
                    {
                        "seq": 2,
                        "head_hash": head,
                        "sealed_at": sealed_at,
                        "key_id": signer,
                        "signature": base64.b64encode(signature).decode(),
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    result = _verify(runner, "--against", str(path))
    assert result.exit_code == 1
    assert (
        f"BROKEN (not_ours): saved checkpoint 1 of {path} (seq 2) is signed by key {signer}" in result.output
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "Expecting value"),
        ('{"checkpoints": [{"seq": "two"}]}', "entry 1 of"),
        ('{"items": []}', "holds no list of checkpoints"),
    ],
)
def test_a_checkpoint_file_that_cannot_be_read_is_refused_clearly(
    app: Flask, runner: Any, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "saved.json"
    path.write_text(content, encoding="utf-8")
    result = _verify(runner, "--against", str(path))
    assert result.exit_code == 2
    assert f"cannot use {path}" in result.output
    assert message in result.output


# ---- publishing


def test_checkpoints_are_published_with_the_public_key(app: Flask, client: Any) -> None:
    _events(3)
    _events(2, start=3)
    body = client.get("/api/v1/audit/checkpoints").get_json()
    assert body["algorithm"] == "Ed25519"
    assert body["key_id"] == audit.public_key().key_id
    assert [c["seq"] for c in body["checkpoints"]] == [3, 5]
    assert body["next"] is None
    # Anyone can check a signature with the published key alone.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
    for c in body["checkpoints"]:
        public.verify(
            base64.b64decode(c["signature"]),
            audit.checkpoint_payload(c["seq"], c["head_hash"], c["sealed_at"], c["key_id"]),
        )
    page = client.get("/api/v1/audit/checkpoints?after_seq=3&limit=1").get_json()
    assert [c["seq"] for c in page["checkpoints"]] == [5]
    assert "after_seq=5" in page["next"]
    bad = client.get("/api/v1/audit/checkpoints?after_seq=-1")
    assert bad.status_code == 422
    assert "after_seq" in json.dumps(bad.get_json())


def test_the_transparency_page_shows_the_key_and_the_newest_checkpoints(app: Flask, client: Any) -> None:
    _events(2)
    page = client.get("/transparency").get_data(as_text=True)
    assert audit.public_key().public_key in page
    assert "Signed checkpoints" in page
    zh = client.get("/transparency", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Signed checkpoints" not in zh


@pytest.mark.services
def test_a_long_chain_walked_in_parallel_ranges_names_the_same_problems(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flask audit verify` walks a long chain on PostgreSQL in ranges, in worker processes; a break inside a
    range, one at a range's first event and one across the boundary are all found as the serial walk finds
    them."""
    assert db.engine.dialect.name == "postgresql"
    _events(100)
    ids = _ids()
    db.session.execute(text("UPDATE audit_events SET object_id = 'x' WHERE id = :id"), {"id": ids[14]})
    db.session.execute(
        text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[39]}
    )  # seq 40, a range's first
    db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[70]})
    db.session.commit()
    serial = audit_verification.verify_log()
    monkeypatch.setattr(audit_verification, "PARALLEL_FROM_EVENTS", 1)
    monkeypatch.setattr(audit_verification, "PARALLEL_RANGE_MIN", 13)
    parallel = audit_verification.verify_log(parallel=True)
    assert [p.kind for p in serial.problems] == ["altered", "missing", "missing"]
    assert parallel.problems == serial.problems
    assert (parallel.events, parallel.head_seq) == (serial.events, serial.head_seq) == (98, 100)
