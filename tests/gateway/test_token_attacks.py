"""Tokens that must never get in, at the gateway's own endpoints and before anything is proxied."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from jose import jwt as jose_jwt

from shared.jwt import KeyPair, Signer
from shared.testing import auth, make_token
from tests.conftest import COUNTY, VILLAGE


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(settings, **over) -> dict:
    import time
    now = int(time.time())
    return {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": "1", "role": "county_admin",
            "region": COUNTY, "iat": now, "exp": now + 600, "jti": "j-attack", **over}


def _forgeries(settings) -> dict[str, str]:
    keys = KeyPair.from_file(settings.key_file)
    real = make_token(settings, role="village_cadre", region=VILLAGE, sub="7")
    head, payload, sig = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    escalated = _b64(dict(claims, role="county_admin", region=COUNTY))
    other = KeyPair(_other_private_pem())
    return {
        "expired": make_token(settings, role="county_admin", ttl=-120),
        "wrong audience": Signer(keys, issuer=settings.jwt_issuer, audience="another-api").sign(
            {"sub": "1", "role": "county_admin", "region": COUNTY}, ttl=600)[0],
        "wrong issuer": Signer(keys, issuer="someone-else", audience=settings.jwt_audience).sign(
            {"sub": "1", "role": "county_admin", "region": COUNTY}, ttl=600)[0],
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings))}.",
        "HS256 with the public key": _hs256(_claims(settings), keys.public_pem, keys.kid),
        "forged role and region": f"{head}.{escalated}.{sig}",
        "unknown kid": jose_jwt.encode(_claims(settings), keys._private, algorithm="RS256", headers={"kid": "nope"}),
        "someone else's key": Signer(other, issuer=settings.jwt_issuer, audience=settings.jwt_audience).sign(
            {"sub": "1", "role": "county_admin", "region": COUNTY}, ttl=600)[0],
        "not a jwt": "hello",
        "issued in the future": jose_jwt.encode(
            _claims(settings, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200), keys._private,
            algorithm="RS256", headers={"kid": keys.kid}),
        "no role": Signer(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience).sign(
            {"sub": "1", "region": COUNTY}, ttl=600)[0],
    }


def _hs256(claims: dict, secret: bytes, kid: str) -> str:
    """The classic confusion attack, built by hand (python-jose itself refuses to sign it)."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(sig).decode().rstrip('=')}"


def _other_private_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.mark.parametrize("kind", ["expired", "wrong audience", "wrong issuer", "alg none", "HS256 with the public key",
                                  "forged role and region", "unknown kid", "someone else's key", "not a jwt",
                                  "no role", "issued in the future"])
async def test_bad_tokens_are_refused_before_reaching_a_service(stack, kind):
    bad = _forgeries(stack.settings)[kind]
    me = await stack.client.get("/api/v1/auth/me", headers=auth(bad))
    assert me.status_code == 401, (kind, me.text)
    assert me.headers["content-type"] == "application/problem+json"
    assert me.headers["www-authenticate"] == "Bearer"
    proxied = await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=auth(bad))
    assert proxied.status_code == 401, (kind, proxied.text)
    assert [c for c in stack.transport.calls if c.url.path.startswith("/api/")] == []   # the registry never saw it


async def test_no_token_or_another_scheme_is_401(stack):
    assert (await stack.client.get("/api/v1/households")).status_code == 401
    r = await stack.client.get("/api/v1/households", headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401
    assert [c for c in stack.transport.calls if c.url.path.startswith("/api/")] == []


async def test_two_authorization_headers_are_refused_at_the_gateway_and_at_a_service(stack, registry, token):
    # the gateway checks one and a service could read the other: neither takes such a request
    two = [("Authorization", f"Bearer {token('village_cadre', VILLAGE)}"), ("Authorization", f"Bearer {token()}")]
    for client, path in ((stack.client, f"/api/v1/regions/{COUNTY}"), (stack.client, "/api/v1/auth/me"),
                         (registry, f"/api/v1/regions/{COUNTY}")):
        r = await client.get(path, headers=two)
        assert r.status_code == 400, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert [c for c in stack.transport.calls if c.url.path.startswith("/api/")] == []
