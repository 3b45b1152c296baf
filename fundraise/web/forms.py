"""Putting a service's refusal onto a WTForms form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash

from fundraise.errors import ValidationFailed


def apply_field_errors(form: Any, error: ValidationFailed, aliases: Mapping[str, str] | None = None) -> None:
    """Show a service's field errors next to the form's inputs.

    `aliases` names the form field for a service field that the form calls differently (the donation
    service's `amount_fen` is the donate form's `custom_amount`). A nested name (`documents.0`) goes to its
    top-level field. Messages for fields the form does not have are flashed, and so is the error's own
    message when it names no field at all.
    """
    for name, messages in error.fields.items():
        base = name.split(".")[0]
        field = getattr(form, (aliases or {}).get(name, base), None)
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
        else:
            for message in messages:
                flash(message, "error")
    if not error.fields:
        flash(error.message, "error")
