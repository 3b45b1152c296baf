"""National ID numbers at rest: AES-GCM ciphertext, a keyed blind index for look-ups, and masking.

Both keys are derived from the one configured PII_KEY with HKDF, under different labels, so the blind
index cannot be used to decrypt and the ciphertext key never doubles as a hash key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import cache
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from fundraise.errors import ConfigurationError
from verification.identity import mask_id

if TYPE_CHECKING:
    from fundraise.models import Donation

__all__ = ["blind_index", "check_key", "decrypt_id", "encrypt_id", "mask_id"]

_NONCE_BYTES = 12


def check_key(key: str | None) -> None:
    """Raise ValueError unless the key decodes to exactly 32 bytes."""

    if key is None:
        raise ConfigurationError("PII_KEY is not set")
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError) as error:
        raise ConfigurationError("PII_KEY must be urlsafe base64 of 32 random bytes") from error
    if len(raw) != 32:
        raise ConfigurationError("PII_KEY must be urlsafe base64 of 32 random bytes")


@cache
def _derive(key: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        base64.urlsafe_b64decode(key)
    )


def _key(label: bytes) -> bytes:
    return _derive(current_app.config["PII_KEY"], label)


@cache
def _cipher(key: str) -> AESGCM:
    # Built once per key: record imports encrypt a million numbers in one go.
    return AESGCM(_derive(key, b"aidbridge id encryption"))


def encrypt_id(number: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _cipher(current_app.config["PII_KEY"]).encrypt(nonce, number.encode(), b"resident-id")


def decrypt_id(ciphertext: bytes) -> str:
    nonce, body = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
    return _cipher(current_app.config["PII_KEY"]).decrypt(nonce, body, b"resident-id").decode()


def blind_index(number: str) -> str:
    """A keyed hash of the normalised number: equal numbers match, and the number cannot be recovered."""
    return hmac.new(_key(b"aidbridge id blind index"), number.upper().encode(), hashlib.sha256).hexdigest()


def mask_name(name: str | None) -> str:
    """'张小明' -> '张**', 'Li Wei' -> 'L**': the public sees the first character only (pages and API alike).

    Always two asterisks, whatever the length: the mask reveals nothing of the rest, and a 64-character
    donor name cannot stretch a campaign page sideways."""
    if not name:
        return ""
    return name.strip()[:1] + "**"


def public_name(donation: Donation) -> str | None:
    """The donor's chosen name masked for the public (张三 → 张**), or None for an anonymous gift."""
    name = donation.shown_name
    return mask_name(name) if name else None
