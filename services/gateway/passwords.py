"""Password and secret hashing: argon2id for what people choose, SHA-256 for what we generate."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's argon2id baseline (19 MiB, t=2, p=1): ~30 ms, run off the event loop.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the username is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(hashed: str | None, password: str) -> bool:
    """True when ``password`` matches; ``hashed=None`` (unknown user) burns the same time and is False."""
    return await asyncio.to_thread(_verify, hashed, password)


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """Generated secrets carry 256 bits of entropy: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(hashed: str | None, secret: str) -> bool:
    return hmac.compare_digest(hashed or "0" * 64, hash_secret(secret)) and hashed is not None
