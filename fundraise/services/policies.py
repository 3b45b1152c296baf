"""The regional benefit policies (config/policies/), loaded and checked once per app: what every
verification applies."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, current_app

from config.settings import PROJECT_ROOT
from fundraise.errors import ConfigurationError
from verification.policy import Policy, PolicyError, PolicyKey
from verification.policy_files import load_policies

DEFAULT_POLICY_DIR = PROJECT_ROOT / "config" / "policies"
POLICIES_EXTENSION = "aidbridge_policies"


def init_app(app: Flask) -> None:
    """Load and validate every policy file once per app; a malformed one stops start-up, naming the file,
    the key and the reason (POLICY_DIR, by default config/policies/)."""
    directory = app.config.get("POLICY_DIR") or DEFAULT_POLICY_DIR
    try:
        app.extensions[POLICIES_EXTENSION] = load_policies(directory)
    except PolicyError as error:
        raise ConfigurationError(
            f"refusing to start: the benefit policy file {error.source} is malformed:"
            f" {error.key_path or '(top level)'}: {error.reason}"
        ) from error


def loaded_policies() -> Mapping[PolicyKey, Policy]:
    policies: Mapping[PolicyKey, Policy] = current_app.extensions[POLICIES_EXTENSION]
    return policies
