"""Issue 15, part 3: personal details in the audit log are sealed under per-person keys, so erasing a person
(deleting the key) leaves every hash, checkpoint and ledger balance verifiable while the details read "erased"."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from fundraise import audit, person_keys
from fundraise.extensions import db
from fundraise.models import AuditEvent, Campaign, Donation, LedgerTransaction, PersonKey, User
from fundraise.services import disbursements
from fundraise.services.accounts import update_account
from fundraise.services.demo import seed_demo
from fundraise.services.transitions import transition
from tests.disbursements.world import world
from tests.factories import PASSWORD, UserFactory

# --- the module on its own -------------------------------------------------------------------------------


def test_a_sealed_detail_opens_for_its_subject_and_is_not_in_the_clear(app: Flask) -> None:
    envelope = person_keys.seal("user:1", {"email": "wang@example.cn", "name": "王小明"})
    assert set(envelope) == {"sealed_for", "ct"}
    assert "wang@example.cn" not in json.dumps(envelope, ensure_ascii=False)
    assert "王小明" not in json.dumps(envelope, ensure_ascii=False)
    assert person_keys.open_sealed(envelope) == {"email": "wang@example.cn", "name": "王小明"}
    # Two seals of the same detail differ (fresh nonce); both open.
    again = person_keys.seal("user:1", {"email": "wang@example.cn", "name": "王小明"})
    assert again["ct"] != envelope["ct"]
    assert person_keys.open_sealed(again) == person_keys.open_sealed(envelope)
    # What is not an envelope passes through untouched.
    for plain in (None, 3, "text", {"state": "draft"}, [1, 2]):
        assert person_keys.open_sealed(plain) == plain
    db.session.commit()
    # The key survives the transaction (read back from its wrapped form).
    assert person_keys.open_sealed(envelope) == {"email": "wang@example.cn", "name": "王小明"}
    row = db.session.scalar(select(PersonKey).where(PersonKey.subject == "user:1"))
    assert row is not None
    assert row.wrapped_key is not None
    assert row.erased_at is None


def test_fields_are_sealed_one_by_one_and_opened_under_their_names(app: Flask) -> None:
    subject = person_keys.subject_for_patient("ab" * 32)
    stored = {
        "state": "rejected",
        **person_keys.seal_fields(subject, {"reason": "王小明的诊断书不符", "note": ""}),
    }
    assert stored["state"] == "rejected"
    assert stored["note"] == ""
    assert person_keys.is_sealed(stored["reason"])
    assert person_keys.open_fields(stored) == {
        "state": "rejected",
        "reason": "王小明的诊断书不符",
        "note": "",
    }
    assert person_keys.open_fields(None) is None


def test_a_tampered_or_foreign_envelope_reads_as_unreadable_not_an_error(app: Flask) -> None:
    mine = person_keys.seal("user:1", {"name": "王小明"})
    person_keys.seal("user:2", {"name": "李四"})
    assert person_keys.open_sealed({**mine, "sealed_for": "user:2"}) is person_keys.UNREADABLE
    assert person_keys.open_sealed({**mine, "sealed_for": "user:99"}) is person_keys.UNREADABLE  # no key
    assert person_keys.open_sealed({**mine, "ct": "not base64!"}) is person_keys.UNREADABLE
    assert person_keys.open_sealed({**mine, "ct": mine["ct"][:-8] + "AAAAAAA="}) is person_keys.UNREADABLE
    assert person_keys.open_sealed({"sealed_for": 5, "ct": mine["ct"]}) is person_keys.UNREADABLE
    # Opening never makes a key.
    assert db.session.scalar(select(PersonKey).where(PersonKey.subject == "user:99")) is None


def test_forget_erases_for_good_and_is_audited_by_subject_only(app: Flask) -> None:
    kept = person_keys.seal("user:2", {"name": "李四"})
    gone = person_keys.seal("user:1", {"name": "王小明"})
    db.session.commit()
    assert person_keys.forget(["user:1", "user:3"], reason="deletion_request:7") == 2
    db.session.commit()
    assert person_keys.open_sealed(gone) is person_keys.ERASED
    assert person_keys.open_sealed(kept) == {"name": "李四"}
    rows = {row.subject: row for row in db.session.scalars(select(PersonKey))}
    assert rows["user:1"].wrapped_key is None
    assert rows["user:1"].erased_at is not None
    assert rows["user:3"].wrapped_key is None  # no key yet: erased all the same
    # Erasure is final: a detail sealed afterwards is dropped, and no new key appears.
    later = person_keys.seal("user:1", {"name": "王小明"})
    assert later == {"sealed_for": "user:1", "ct": None}
    assert person_keys.open_sealed(later) is person_keys.ERASED
    assert person_keys.forget(["user:1"], reason="deletion_request:7") == 0
    db.session.commit()
    assert db.session.scalar(select(PersonKey.wrapped_key).where(PersonKey.subject == "user:1")) is None
    (event, *_rest) = [e for e in db.session.scalars(select(AuditEvent)) if e.action == "person.keys_erased"]
    assert event.after == {"subjects": ["user:1", "user:3"], "reason": "deletion_request:7"}
    # The marker writes itself out in the reader's language and as JSON for the API.
    assert str(person_keys.ERASED)
    assert person_keys.json_fields({"name": person_keys.ERASED})["name"]["sealed"] == "erased"  # type: ignore[index]


def test_a_key_made_in_a_rolled_back_transaction_is_not_used_afterwards(app: Flask) -> None:
    person_keys.seal("user:5", {"name": "甲"})
    db.session.rollback()
    envelope = person_keys.seal("user:5", {"name": "乙"})
    db.session.commit()
    assert person_keys.open_sealed(envelope) == {"name": "乙"}
    # The same for a savepoint rolled back inside a transaction that goes on.
    savepoint = db.session.begin_nested()
    person_keys.seal("user:6", {"name": "丙"})
    savepoint.rollback()
    envelope = person_keys.seal("user:6", {"name": "丁"})
    db.session.commit()
    assert person_keys.open_sealed(envelope) == {"name": "丁"}


# --- erasing a person with a history ---------------------------------------------------------------------


def _stored(event: AuditEvent) -> tuple[Any, ...]:
    return (event.id, event.action, event.actor_label, event.before, event.after, event.seq, event.hash)


def test_erasing_a_person_leaves_the_log_and_the_ledger_verifiable(app: Flask, runner: Any) -> None:
    w = world(app, gifts=(100_000, 100_000))
    admin = UserFactory(admin=True)
    db.session.commit()
    family_email, family_name = w.family.email, w.family.name
    # The admin corrects the family's name and e-mail: the event keeps both, before and after, sealed.
    update_account(
        w.family.id,
        name="王建国",
        email="wang.jianguo@example.cn",
        role=w.family.role,
        active=True,
        actor=admin,
    )
    # Staff write about the case: a rejected payout, then a suspension with a reason naming the patient.
    d = w.request(50_000)
    held = disbursements.get(d.id)
    held.notice_ends_at = held.notice_ends_at - timedelta(days=2)
    db.session.commit()
    disbursements.reject(d.id, w.approver, "王小明的住院票据与诊断不符")
    transition(w.campaign, "suspend", actor=admin, reason="王小明家属提供的材料存在疑点")
    assert runner.invoke(args=["audit", "seal"]).exit_code == 0

    everything = json.dumps(
        [[e.before, e.after, e.actor_label] for e in db.session.scalars(select(AuditEvent))],
        ensure_ascii=False,
    )
    for personal in (family_email, family_name, "王建国", "wang.jianguo@example.cn", "王小明"):
        assert personal not in everything, personal
    updated = next(e for e in audit.history("user", w.family.id) if e.action == "user.update")
    assert person_keys.open_fields(updated.after)["email"] == "wang.jianguo@example.cn"  # type: ignore[index]
    suspended = next(e for e in audit.history("campaign", w.campaign.id) if e.action == "campaign.suspend")
    assert person_keys.open_fields(suspended.after)["reason"] == "王小明家属提供的材料存在疑点"  # type: ignore[index]
    before = {event.id: _stored(event) for event in db.session.scalars(select(AuditEvent))}

    erased = person_keys.forget(
        [
            person_keys.subject_for_user(w.family.id),
            person_keys.subject_for_patient(w.campaign.patient_id_index or ""),
        ],
        reason="deletion_request:1",
    )
    db.session.commit()
    assert erased == 2
    db.session.expire_all()

    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    checked = runner.invoke(args=["ledger", "check"])
    assert checked.exit_code == 0, checked.output
    # Every event written before the erasure is stored exactly as it was (hash, envelopes and all).
    after = {event.id: _stored(event) for event in db.session.scalars(select(AuditEvent))}
    assert {key: after[key] for key in before} == before
    # ... and its sealed details now read as erased, its plain fields as they were.
    for event in (updated, suspended):
        db.session.refresh(event)
    opened = person_keys.open_fields(updated.after) or {}
    assert opened["email"] is person_keys.ERASED
    assert opened["name"] is person_keys.ERASED
    assert (person_keys.open_fields(suspended.after) or {})["reason"] is person_keys.ERASED
    assert suspended.after["state"] == "suspended"  # type: ignore[index]
    rejected = next(e for e in audit.history("disbursement", d.id) if e.action == "disbursement.reject")
    assert (person_keys.open_fields(rejected.after) or {})["note"] is person_keys.ERASED
    assert rejected.after["status"] == "rejected"  # type: ignore[index]

    # The viewer and the API say so; the page does not break.
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert client.post("/login", data={"email": admin.email, "password": PASSWORD}).status_code == 302
    page = client.get(f"/staff/audit?object_type=campaign&object_id={w.campaign.id}")
    assert page.status_code == 200
    assert "(personal detail erased)" in page.get_data(as_text=True)
    answer = client.get(f"/api/v1/audit/events?object_type=user&object_id={w.family.id}&action=user.update")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    (shown,) = answer.get_json()["events"]
    assert shown["after"]["email"]["sealed"] == "erased"
    assert set(shown["after"]) == {"name", "email"}  # only what changed


# --- the demo writes nothing personal into the logs ------------------------------------------------------


def test_the_demo_writes_no_personal_detail_in_the_clear_into_the_logs(app: Flask) -> None:
    seed_demo()
    people = db.session.scalars(select(User)).all()
    personal = {user.email for user in people} | {user.name for user in people if len(user.name) >= 2}
    for campaign in db.session.scalars(select(Campaign)):
        personal |= {campaign.patient_name} if len(campaign.patient_name or "") >= 2 else set()
    for donation in db.session.scalars(select(Donation)):
        personal |= {value for value in (donation.receipt_email, donation.shown_name) if value}
    personal.discard("")
    assert len(personal) > 20
    logged = json.dumps(
        [[e.before, e.after, e.actor_label, e.object_id] for e in db.session.scalars(select(AuditEvent))],
        ensure_ascii=False,
    )
    memos = json.dumps(
        [[t.memo, t.refs] for t in db.session.scalars(select(LedgerTransaction))], ensure_ascii=False
    )
    found = sorted(value for value in personal if value in logged or value in memos)
    assert found == [], found


def test_no_key_material_is_made_for_values_that_are_not_personal(app: Flask) -> None:
    # Codes and empty reasons stay in the clear, so the system's own reasons read without any key.
    assert person_keys.seal_fields("user:1", {"reason": ""}) == {"reason": ""}
    assert db.session.scalar(select(PersonKey).where(PersonKey.subject == "user:1")) is None
