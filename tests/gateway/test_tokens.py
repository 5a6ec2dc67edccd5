import base64

from jose import jwt as jose_jwt

from shared.auth import REVOKED_PREFIX, announce_revoked
from shared.testing import ENGLISH, auth, wait_until
from tests.conftest import COUNTY, TOWNSHIP
from tests.gateway.conftest import ADMIN, ADMIN_PASSWORD

TOKEN = "/api/v1/auth/token"


async def test_admin_signs_in_and_sees_themself(stack):
    r = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == stack.settings.access_token_ttl
    assert r.headers["cache-control"] == "no-store"
    claims = jose_jwt.get_unverified_claims(body["access_token"])
    assert claims["role"] == "county_admin" and claims["region"] == COUNTY
    assert {"sub", "exp", "iat", "jti"} <= set(claims)
    me = await stack.client.get("/api/v1/auth/me", headers=auth(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == ADMIN and me.json()["role"] == "county_admin"
    assert me.json()["region_code"] == COUNTY and me.json()["id"] == int(claims["sub"])


async def test_usernames_are_not_case_sensitive(stack):
    tokens = await stack.login(ADMIN.upper(), ADMIN_PASSWORD)
    assert tokens["access_token"]


async def test_wrong_password_and_unknown_user_look_the_same(stack):
    wrong = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN, "password": "nope-nope-1"})
    ghost = await stack.client.post(TOKEN, data={"grant_type": "password", "username": "ghost", "password": "x" * 12})
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["detail"] == ghost.json()["detail"]
    assert wrong.json()["error"] == "invalid_grant"


async def test_malformed_token_requests_are_400(stack):
    r = await stack.client.post(TOKEN, data={"grant_type": "magic"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await stack.client.post(TOKEN, json={"grant_type": "password", "username": ADMIN, "password": "x"})
    assert r.status_code == 400
    r = await stack.client.get(TOKEN)
    assert r.status_code == 405


async def test_bank_signs_in_with_client_credentials(stack):
    admin = await stack.bearer()
    r = await stack.client.post("/api/v1/auth/clients", headers=admin,
                                json={"name": "宁夏黄河农村商业银行", "bank_code": "NXRCB", "region_code": COUNTY})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["client_id"] and len(created["client_secret"]) >= 32
    r = await stack.client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": created["client_id"],
                                             "client_secret": created["client_secret"]})
    assert r.status_code == 200, r.text
    claims = jose_jwt.get_unverified_claims(r.json()["access_token"])
    assert claims["role"] == "bank" and claims["bank"] == "NXRCB" and claims["region"] == COUNTY
    me = (await stack.client.get("/api/v1/auth/me", headers=auth(r.json()["access_token"]))).json()
    assert me["bank_code"] == "NXRCB" and me["name"] == "宁夏黄河农村商业银行"
    # HTTP Basic works too; a wrong secret does not
    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    r = await stack.client.post(TOKEN, data={"grant_type": "client_credentials"},
                                headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200
    r = await stack.client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": created["client_id"],
                                             "client_secret": "guess"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # the secret is never shown again
    listed = (await stack.client.get("/api/v1/auth/clients", headers=admin)).json()
    assert [c["client_id"] for c in listed["items"]] == [created["client_id"]] and listed["next_cursor"] is None
    assert "client_secret" not in listed["items"][0]


async def test_only_county_admins_register_banks(stack, token):
    r = await stack.client.post("/api/v1/auth/clients", headers=auth(token("township_officer", TOWNSHIP)),
                                json={"name": "某银行", "bank_code": "ABC", "region_code": TOWNSHIP})
    assert r.status_code == 403


async def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(stack):
    first = await stack.login()
    r = await stack.client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await stack.client.get("/api/v1/auth/me", headers=auth(second["access_token"]))).status_code == 200
    # someone replays the first refresh token: refused, and the whole family is revoked
    replay = await stack.client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    again = await stack.client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert again.status_code == 401
    assert (await stack.client.get("/api/v1/auth/me", headers=auth(second["access_token"]))).status_code == 401
    # a new sign-in works as before
    assert (await stack.login())["access_token"]


async def test_logout_revokes_the_token_at_the_gateway_and_at_services(stack):
    tokens = await stack.login()
    h = auth(tokens["access_token"])
    registry = httpx_client(stack.services["registry"])
    async with registry:
        assert (await registry.get(f"/api/v1/regions/{COUNTY}", headers=h)).status_code == 404   # valid, no region
        r = await stack.client.post("/api/v1/auth/logout", headers=h)
        assert r.status_code == 204
        me = await stack.client.get("/api/v1/auth/me", headers=h)
        assert me.status_code == 401 and me.json()["detail"] == "Token has been revoked"
        # the registry, asked directly, also refuses it (it follows the shared revocation list)
        async def refused() -> bool:
            return (await registry.get(f"/api/v1/regions/{COUNTY}", headers=h)).status_code == 401
        assert await wait_until(refused, timeout=3)
        # and through the gateway
        assert (await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=h)).status_code == 401
    # the refresh token issued with it is dead too
    r = await stack.client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    # the Redis key expires with the token
    jti = jose_jwt.get_unverified_claims(tokens["access_token"])["jti"]
    ttl = await stack.app.state.redis.ttl(REVOKED_PREFIX + jti)
    assert 0 < ttl <= stack.settings.access_token_ttl + 60


async def test_revocations_survive_a_redis_flush(stack):
    tokens = await stack.login()
    h = auth(tokens["access_token"])
    assert (await stack.client.post("/api/v1/auth/logout", headers=h)).status_code == 204
    jti = jose_jwt.get_unverified_claims(tokens["access_token"])["jti"]
    await stack.app.state.redis.delete(REVOKED_PREFIX + jti)      # Redis lost it (restart without persistence)
    assert await stack.app.state.revocations.resync() >= 1        # what the gateway does at start
    assert await stack.app.state.redis.exists(REVOKED_PREFIX + jti)
    assert await stack.app.state.revocation_fallback(jti) is True


async def test_internal_revocation_lookup_is_for_services_only(stack, token):
    tokens = await stack.login()
    jti = jose_jwt.get_unverified_claims(tokens["access_token"])["jti"]
    svc = auth(token("service", "", sub="svc:registry"))
    assert (await stack.client.get(f"/internal/revocations/{jti}", headers=svc)).json() == {"revoked": False}
    await stack.client.post("/api/v1/auth/logout", headers=auth(tokens["access_token"]))
    assert (await stack.client.get(f"/internal/revocations/{jti}", headers=svc)).json() == {"revoked": True}
    r = await stack.client.get(f"/internal/revocations/{jti}", headers=await stack.bearer())
    assert r.status_code == 404         # invisible to people


async def test_repeated_failed_logins_are_rate_limited(stack):
    for _ in range(10):
        r = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN, "password": "wrong-guess-1"})
        assert r.status_code == 401
    r = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert 0 < int(r.headers["retry-after"]) <= 300
    # other accounts from elsewhere are not locked out
    stack.app.state.login_limiter.per_ip = 10_000
    ghost = await stack.client.post(TOKEN, data={"grant_type": "password", "username": "other", "password": "x" * 12})
    assert ghost.status_code == 401


async def test_rate_limit_still_holds_when_redis_is_down(stack):
    class Down:
        def pipeline(self, *a, **k):
            raise ConnectionError("redis is down")

        async def delete(self, *a):
            raise ConnectionError("redis is down")

    stack.app.state.login_limiter.redis = Down()
    for _ in range(10):
        r = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN, "password": "wrong-guess-2"})
        assert r.status_code == 401
    r = await stack.client.post(TOKEN, data={"grant_type": "password", "username": ADMIN, "password": ADMIN_PASSWORD})
    assert r.status_code == 429


async def test_jwks_publishes_the_key_that_verifies_tokens(stack):
    jwks = (await stack.client.get("/.well-known/jwks.json")).json()
    tokens = await stack.login()
    header = jose_jwt.get_unverified_header(tokens["access_token"])
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jose_jwt.decode(tokens["access_token"], key, algorithms=["RS256"], audience=stack.settings.jwt_audience,
                             issuer=stack.settings.jwt_issuer)
    assert claims["role"] == "county_admin"


def httpx_client(app):
    import httpx
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registry", headers=ENGLISH)


async def test_with_redis_down_the_gateway_still_knows_revoked_tokens(stack):
    import redis.asyncio as aioredis
    kept, revoked = await stack.login(), await stack.login()
    assert (await stack.client.post("/api/v1/auth/logout", headers=auth(revoked["access_token"]))).status_code == 204
    real = stack.app.state.redis
    stack.app.state.redis = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    try:
        assert (await stack.client.get("/api/v1/auth/me", headers=auth(kept["access_token"]))).status_code == 200
        assert (await stack.client.get("/api/v1/auth/me", headers=auth(revoked["access_token"]))).status_code == 401
        proxied = await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=auth(revoked["access_token"]))
        assert proxied.status_code == 401
    finally:
        await stack.app.state.redis.aclose()
        stack.app.state.redis = real


async def test_expired_sessions_are_forgotten(stack):
    from sqlalchemy import text
    tokens = await stack.login()
    await stack.client.post("/api/v1/auth/logout", headers=auth(tokens["access_token"]))
    async with stack.app.state.db.sessionmaker() as session:
        await session.execute(text("UPDATE revoked_token SET exp = now() - interval '2 hours'"))
        await session.execute(text("UPDATE refresh_token SET expires_at = now() - interval '2 hours'"))
        await session.commit()
    await stack.app.state.revocations.prune()
    async with stack.app.state.db.sessionmaker() as session:
        left = (await session.execute(text("SELECT (SELECT count(*) FROM revoked_token), "
                                           "(SELECT count(*) FROM refresh_token)"))).one()
    assert tuple(left) == (0, 0)


async def test_hostile_credentials_are_plain_sign_in_failures(stack):
    for data in ({"grant_type": "password", "username": "a\x00b", "password": "x"},
                 {"grant_type": "password", "username": ADMIN, "password": "a\x00b"},
                 {"grant_type": "password", "username": "长" * 100, "password": "x"},
                 {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
                 {"grant_type": "refresh_token", "refresh_token": "a\x00b"}):
        r = await stack.client.post(TOKEN, data=data)
        assert r.status_code == 401, (data, r.text)
    r = await stack.client.post(TOKEN, content=b"\xff\xfe=\xff",
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400


async def test_a_token_revoked_by_another_gateway_worker_is_refused_at_once(stack):
    tokens = await stack.login()
    h = auth(tokens["access_token"])
    assert (await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=h)).status_code == 404    # valid
    jti = jose_jwt.get_unverified_claims(tokens["access_token"])["jti"]
    await announce_revoked(stack.app.state.redis, [(jti, 600)])      # what another worker's logout does

    async def refused() -> bool:
        return (await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=h)).status_code == 401
    assert await wait_until(refused, timeout=3)      # as soon as the message arrives
    r = await stack.client.get(f"/api/v1/regions/{COUNTY}", headers=h)
    assert r.status_code == 401 and r.json()["detail"] == "Token has been revoked"
