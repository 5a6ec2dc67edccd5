"""Every service verifies the token itself: forged, expired, revoked or foreign tokens get 401."""

import base64
import hashlib
import hmac
import json

import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization

from shared.auth import REVOKED_PREFIX, announce_revoked
from shared.jwt import KeyPair, Signer
from shared.testing import app_client, auth, wait_until
from tests.conftest import COUNTY, VILLAGE, _service_app

PROTECTED = {
    "registry": f"/api/v1/regions/{COUNTY}",
    "funds": "/api/v1/fund-sources",
    "notifications": "/api/v1/me/notifications",
}
# (service, path): each service's protected path, and the household read (its own one-level auth dependency)
TARGETS = sorted(PROTECTED.items()) + [("registry", "/api/v1/households/1")]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def claims(settings, **extra):
    base = {"sub": "u-attacker", "role": "county_admin", "region": COUNTY, "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience, "iat": 1_900_000_000, "exp": 4_000_000_000, "jti": "j-forged"}
    return base | extra


def forge_payload(token: str, **changes) -> str:
    header, payload, sig = token.split(".")
    data = json.loads(unb64(payload)) | changes
    return ".".join([header, b64(json.dumps(data).encode()), sig])


def attacks(settings, token) -> dict[str, str]:
    keys = KeyPair.from_file(settings.key_file)
    helper = token("helper", VILLAGE, sub="u-helper")
    header_none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    header_hs = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.kid}).encode())
    body = b64(json.dumps(claims(settings)).encode())
    hs_sig = b64(hmac.new(keys.public_pem, f"{header_hs}.{body}".encode(), hashlib.sha256).digest())
    other_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    stranger = Signer(KeyPair(other_pem), issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    wrong_aud = Signer(keys, issuer=settings.jwt_issuer, audience="another-api")
    wrong_iss = Signer(keys, issuer="someone-else", audience=settings.jwt_audience)
    return {
        "expired": token(ttl=-120),
        "wrong aud": wrong_aud.sign({"sub": "u1", "role": "county_admin", "region": COUNTY}, ttl=600)[0],
        "wrong iss": wrong_iss.sign({"sub": "u1", "role": "county_admin", "region": COUNTY}, ttl=600)[0],
        "alg none": f"{header_none}.{body}.",
        "HS256 with the public key as secret": f"{header_hs}.{body}.{hs_sig}",
        "forged role": forge_payload(helper, role="county_admin"),
        "forged region": forge_payload(helper, region="640000000000"),
        "another signing key": stranger.sign({"sub": "u1", "role": "county_admin", "region": COUNTY}, ttl=600)[0],
        "unknown role": token(role="emperor"),
        "garbage": "not-a-jwt",
    }


@pytest.mark.parametrize(("service", "path"), TARGETS)
async def test_forged_and_stale_tokens_are_refused(settings, token, service, path):
    async with app_client(_service_app(service, settings)) as client:
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=auth(token()))).status_code in (200, 404)
        for name, bad in attacks(settings, token).items():
            r = await client.get(path, headers=auth(bad))
            assert r.status_code == 401, name
            assert r.headers["content-type"] == "application/problem+json", name
            assert "Bearer" in r.headers.get("www-authenticate", ""), name


@pytest.mark.parametrize(("service", "path"), TARGETS)
async def test_a_revoked_token_is_refused(settings, token, service, path):
    t = token(sub="u-leaving")
    jti = json.loads(unb64(t.split(".")[1]))["jti"]
    r = aioredis.from_url(settings.redis_url)
    async with app_client(_service_app(service, settings)) as client:
        assert (await client.get(path, headers=auth(t))).status_code in (200, 404)
        try:
            await announce_revoked(r, [(jti, 600)])       # what the gateway's logout writes
            # each process learns it from the channel (or asks Redis while it cannot follow the channel)
            async def refused() -> bool:
                return (await client.get(path, headers=auth(t))).status_code == 401
            assert await wait_until(refused, timeout=3)
            assert (await client.get(path, headers=auth(t))).status_code == 401
        finally:
            await r.delete(REVOKED_PREFIX + jti)
            await r.aclose()


async def test_roles_are_enforced(registry, funds, token):
    helper = auth(token("helper", VILLAGE, sub="u-helper"))
    assert (await registry.post("/api/v1/regions", json={"code": VILLAGE, "name": "欣荣村"},
                                headers=helper)).status_code == 403
    assert (await funds.post("/api/v1/fund-sources", json={"name": "x", "level": "central", "doc_no": "1",
                                                           "year": 2020}, headers=helper)).status_code == 403
    assert (await funds.get("/api/v1/audit/verify", headers=helper)).status_code == 403
