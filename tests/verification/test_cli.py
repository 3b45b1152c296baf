"""`flask verify run`, and the start-up check of the policy files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config.settings import PROJECT_ROOT
from fundraise import ConfigurationError, create_app
from fundraise.extensions import db
from fundraise.models import VerificationReport
from tests.verification.records import insured, submitted_case


def test_verify_one_campaign(app, runner):
    campaign = submitted_case()
    insured(campaign)

    result = runner.invoke(args=["verify", "run", "--campaign", str(campaign.id)])

    assert result.exit_code == 0, result.output
    assert f"campaign {campaign.id}: verified" in result.output
    assert campaign.state == "verified"


def test_verify_all_active_with_progress(app, runner):
    cases = [submitted_case() for _ in range(3)]
    insured(cases[0])
    draft = submitted_case(state="draft", submitted_at=None)
    db.session.commit()

    result = runner.invoke(args=["verify", "run", "--all-active"])

    assert result.exit_code == 0, result.output
    assert "verified 3 active campaigns: needs_review 2, verified 1" in result.output
    assert "new reports: 3" in result.output
    assert "Verifying" in result.stderr  # the progress bar
    assert draft.state == "draft"

    again = runner.invoke(args=["verify", "run", "--all-active"])
    assert "new reports: 0; unchanged: 3" in again.output
    assert db.session.scalar(select(func.count(VerificationReport.id))) == 3


def test_verify_needs_one_choice_and_an_active_campaign(app, runner):
    assert runner.invoke(args=["verify", "run"]).exit_code == 2
    assert runner.invoke(args=["verify", "run", "--campaign", "1", "--all-active"]).exit_code == 2
    draft = submitted_case(state="draft", submitted_at=None)
    db.session.commit()
    refused = runner.invoke(args=["verify", "run", "--campaign", str(draft.id)])
    assert refused.exit_code == 1
    assert "Only submitted and active campaigns" in refused.output
    missing = runner.invoke(args=["verify", "run", "--campaign", "999999"])
    assert missing.exit_code == 1


def test_a_malformed_policy_file_stops_start_up_naming_file_key_and_reason(tmp_path: Path):
    folder = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "config" / "policies", folder)
    broken = folder / "341200-2026.toml"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("tertiary = 7000", "tertiary = 17000", 1), encoding="utf-8"
    )

    with pytest.raises(ConfigurationError) as refused:
        create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "POLICY_DIR": str(folder)})

    message = str(refused.value)
    assert str(broken) in message
    assert "basic.resident.rate_bp.tertiary" in message
    assert "rate must be between 0 and 10000 basis points, got 17000" in message


def test_the_shipped_policies_load_at_start_up(app):
    from fundraise.services.policies import loaded_policies

    assert ("341200", 2026) in loaded_policies()
