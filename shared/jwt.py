"""JWT signing and verification: the only module that touches python-jose.

RS256 only: the algorithm is pinned on decode, so ``alg: none`` and HS256-with-the-public-key tokens fail.
``exp``, ``iat``, ``aud``, ``iss``, ``sub`` and ``jti`` are required. A verified token's claims are remembered
(bounded, never past ``exp``), so a client's repeated token costs one signature check, not one per request.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk
from jose import jwt as jose_jwt
from jose.exceptions import JOSEError

from shared.keyfiles import read_or_create

ALGORITHM = "RS256"
LEEWAY = 10                 # seconds of clock skew accepted on ``exp``
CACHE_SIZE = 8192           # verified tokens remembered per process


class InvalidToken(Exception):
    pass


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _new_private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_or_create_private_key(path: Path, *, create: bool = True) -> bytes:
    """PEM of the signing key; created (mode 0600) on first use unless ``create`` is False."""
    return read_or_create(path, _new_private_key, create=create)


class KeyPair:
    def __init__(self, private_pem: bytes) -> None:
        private = serialization.load_pem_private_key(private_pem, password=None)
        public = private.public_key()
        self.public_pem = public.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        numbers = public.public_numbers()
        self.jwk_public = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "n": _b64(numbers.n), "e": _b64(numbers.e)}
        self.kid = hashlib.sha256(f'{self.jwk_public["e"]}.{self.jwk_public["n"]}'.encode()).hexdigest()[:16]
        self.jwk_public["kid"] = self.kid
        self._private = jwk.construct(private_pem.decode(), ALGORITHM)
        self._public = jwk.construct(self.public_pem.decode(), ALGORITHM)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> KeyPair:
        return cls(load_or_create_private_key(path, create=create))

    @classmethod
    def for_settings(cls, settings) -> KeyPair:
        """The deployment's key: created in the data dir if missing, required if its path is configured."""
        return cls.from_file(settings.key_file, create=settings.jwt_private_key_file is None)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk_public]}


class Signer:
    def __init__(self, keys: KeyPair, *, issuer: str, audience: str) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience

    def sign(self, claims: dict[str, Any], *, ttl: int) -> tuple[str, dict[str, Any]]:
        now = int(time.time())
        full = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + ttl,
                "jti": uuid.uuid4().hex, **claims}
        token = jose_jwt.encode(full, self.keys._private, algorithm=ALGORITHM, headers={"kid": self.keys.kid})
        return token, full


class Verifier:
    def __init__(self, keys: KeyPair, *, issuer: str, audience: str, cache_size: int = CACHE_SIZE) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience
        self.cache_size = cache_size
        self._verified: dict[str, tuple[dict[str, Any], float]] = {}    # token -> (claims, usable until)

    def verify(self, token: str) -> dict[str, Any]:
        hit = self._verified.get(token)
        if hit is not None:
            if time.time() <= hit[1]:
                return dict(hit[0])
            self._verified.pop(token, None)
        claims = self._decode(token)
        if len(self._verified) >= self.cache_size:
            self._evict()
        self._verified[token] = (claims, float(claims["exp"]) + LEEWAY)
        return dict(claims)

    def _evict(self) -> None:
        """Drop expired entries; if that frees too little, the older half."""
        now = time.time()
        for token in [t for t, (_, until) in self._verified.items() if until < now]:
            del self._verified[token]
        if len(self._verified) >= self.cache_size:
            for token in list(self._verified)[: len(self._verified) // 2 + 1]:
                del self._verified[token]

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jose_jwt.get_unverified_header(token)
        except JOSEError:
            raise InvalidToken("token is not a JWT") from None
        if header.get("alg") != ALGORITHM or header.get("kid") not in (None, self.keys.kid):
            raise InvalidToken("token is not signed with this deployment's key")
        try:
            claims = jose_jwt.decode(
                token, self.keys._public, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require_exp": True, "require_iat": True, "require_aud": True, "require_iss": True,
                         "require_sub": True, "require_jti": True, "leeway": LEEWAY})
        except JOSEError as exc:
            raise InvalidToken(str(exc)) from None
        if claims["iat"] > time.time() + LEEWAY:          # jose checks only that iat is a number
            raise InvalidToken("token is issued in the future")
        return claims
