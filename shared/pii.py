"""Personal information at rest (PIPL): AES-GCM encryption and a keyed digest for lookup and uniqueness.

One 32-byte master key per deployment, read from ``settings.pii_key_file`` or ``<data_dir>/keys/pii.key``
(created with mode 0600 on first use). Two independent subkeys are derived from it with HKDF-SHA256: one
for AES-256-GCM, one for HMAC-SHA256, so the lookup digest reveals nothing about the encryption key.

Ciphertexts are ``version (1 byte) || nonce (12 bytes) || ciphertext+tag``; the field name (``id_number``,
``phone``…) is bound as associated data, so a value cannot be moved from one column into another.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.keyfiles import read_or_create
from shared.settings import Settings

__all__ = ["PiiCipher", "DecryptionError", "key_path", "load_or_create_key", "cipher", "mask_account"]

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A stored value could not be decrypted (wrong key, tampered, or another field's value)."""


def key_path(settings: Settings) -> Path:
    return Path(settings.pii_key_file or settings.data_dir / "keys" / "pii.key")


def _parse_key(raw: bytes) -> bytes:
    """Base64 text of 32 bytes (what we write), or the 32 raw bytes themselves."""
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) == KEY_BYTES:
        return key
    if len(raw) == KEY_BYTES:
        return raw
    raise RuntimeError("the PII key file must hold 32 bytes (base64-encoded or raw)")


def load_or_create_key(path: Path, *, create: bool = True) -> bytes:
    """The master key; created (mode 0600, base64 text) on first use unless ``create`` is False."""
    return _parse_key(read_or_create(path, lambda: base64.b64encode(os.urandom(KEY_BYTES)) + b"\n", create=create))


def _subkey(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"jingzhun-pii",
                info=b"jingzhun pii " + purpose + b" v1").derive(master)


class PiiCipher:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(_subkey(master_key, b"encryption"))
        self._mac_key = _subkey(master_key, b"lookup hmac")
        # HMAC's keyed inner and outer SHA-256 states, copied per digest (RFC 2104; a third of hmac.new's cost)
        block = self._mac_key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def encrypt(self, value: str, *, field: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, value.encode(), field.encode())

    def decrypt(self, blob: bytes, *, field: str) -> str:
        blob = bytes(blob)
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != VERSION:
            raise DecryptionError("not a value this deployment encrypted")
        try:
            return self._aead.decrypt(blob[1:1 + NONCE_BYTES], blob[1 + NONCE_BYTES:], field.encode()).decode()
        except InvalidTag:
            raise DecryptionError("value does not decrypt with this key") from None

    def encrypt_opt(self, value: str | None, *, field: str) -> bytes | None:
        return None if value is None else self.encrypt(value, field=field)

    def decrypt_opt(self, blob: bytes | None, *, field: str) -> str | None:
        return None if blob is None else self.decrypt(blob, field=field)

    def digest(self, value: str, *, field: str) -> bytes:
        """Keyed digest (HMAC-SHA256, 32 bytes) of a normalised value: equal values, equal digests."""
        inner = self._inner.copy()
        inner.update(field.encode() + b"\x00" + value.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digests(self, values: list[str], *, field: str) -> list[bytes]:
        """``digest`` of each value (bulk imports)."""
        prefix = field.encode() + b"\x00"
        inner_of, outer_of = self._inner.copy, self._outer.copy
        out = []
        for value in values:
            inner = inner_of()
            inner.update(prefix + value.encode())
            outer = outer_of()
            outer.update(inner.digest())
            out.append(outer.digest())
        return out

    def encrypt_many(self, values: list[str], *, field: str) -> list[bytes]:
        """``encrypt`` of each value, the nonces drawn from the OS in one call (bulk imports)."""
        aad = field.encode()
        encrypt = self._aead.encrypt
        nonces = os.urandom(NONCE_BYTES * len(values))
        out = []
        at = 0
        for value in values:
            nonce = nonces[at:at + NONCE_BYTES]
            at += NONCE_BYTES
            out.append(VERSION + nonce + encrypt(nonce, value.encode(), aad))
        return out


@lru_cache(maxsize=8)
def _cipher_for(path: str, create: bool) -> PiiCipher:
    return PiiCipher(load_or_create_key(Path(path), create=create))


def cipher(settings: Settings) -> PiiCipher:
    """The deployment's cipher (cached per key file); a configured key file must exist."""
    return _cipher_for(str(key_path(settings)), settings.pii_key_file is None)


def mask_account(account_no: str | None) -> str | None:
    """A bank account masked like an ID number: first six and last four kept (``622848*********1234``)."""
    if not account_no:
        return account_no
    if len(account_no) <= 10:
        return "*" * (len(account_no) - 4) + account_no[-4:] if len(account_no) > 4 else "*" * len(account_no)
    return account_no[:6] + "*" * (len(account_no) - 10) + account_no[-4:]
