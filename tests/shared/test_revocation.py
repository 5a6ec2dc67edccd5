"""The in-process set of revoked tokens: fed by the Redis channel, reloaded from the keys after every
(re)connection, and out of the way (Redis, then the gateway, asked per request) while it cannot follow."""

import asyncio
import time

import redis.asyncio as aioredis
from jose import jwt as jose_jwt

from services.gateway.app import create as create_gateway
from services.registry.app import create as create_registry
from shared.auth import REVOKED_PREFIX, RevokedSet, announce_revoked
from shared.testing import auth, running, wait_until
from tests.conftest import COUNTY

ADMIN_PASSWORD = "Helan-admin-2024"


async def login(gw) -> dict[str, str]:
    r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": "admin",
                                                  "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return auth(r.json()["access_token"])


async def until(predicate, timeout: float = 5.0) -> bool:
    async def check() -> bool:
        return predicate()
    return await wait_until(check, timeout=timeout, interval=0.02)


async def test_the_set_follows_the_channel_and_reloads_what_it_missed(own_redis):
    redis = aioredis.from_url(own_redis.url)
    await redis.set(REVOKED_PREFIX + "before-start", 1, ex=600)
    await redis.set(REVOKED_PREFIX + "expiring", 1, px=300)
    revoked = RevokedSet(redis)
    revoked.start()
    try:
        assert await until(lambda: revoked.ready)
        assert "before-start" in revoked and "expiring" in revoked and "other" not in revoked
        await announce_revoked(redis, [("announced", 600)])
        assert await until(lambda: "announced" in revoked)
        await asyncio.sleep(0.4)
        assert "expiring" not in revoked                  # never past the key's own expiry

        # a revocation the channel never carried (written while this process was away) ...
        await redis.set(REVOKED_PREFIX + "missed", 1, ex=600)
        assert "missed" not in revoked
        await redis.client_kill_filter(_type="pubsub")     # ... is loaded when the channel comes back
        assert await until(lambda: "missed" in revoked)
        assert revoked.ready and "announced" in revoked
    finally:
        await revoked.stop()
        await redis.aclose()


async def test_the_follower_stops_whenever_asked(settings):
    redis = aioredis.from_url(settings.redis_url)
    try:
        for delay in (0.0, 0.05, 0.3, 0.7, 1.1, 1.6):
            revoked = RevokedSet(redis)
            revoked.start()
            await asyncio.sleep(delay)
            started = time.monotonic()
            await revoked.stop()
            assert revoked._task.done() and time.monotonic() - started < 2.5
            assert not revoked.ready
    finally:
        await redis.aclose()


async def test_with_redis_down_services_ask_the_gateway_and_follow_again_once_it_is_back(settings, own_redis):
    settings = settings.model_copy(update={"redis_url": own_redis.url, "admin_password": ADMIN_PASSWORD})
    apps = {"gateway": create_gateway(settings), "registry": create_registry(settings)}
    async with running(apps, settings) as c:
        gw, reg = c["gateway"], c["registry"]
        kept, gone = [await login(gw) for _ in range(2)]
        path = f"/api/v1/regions/{COUNTY}"
        registry_set: RevokedSet = apps["registry"].state.revoked
        assert await until(lambda: registry_set.ready)
        assert (await gw.post("/api/v1/auth/logout", headers=gone)).status_code == 204
        jti = jose_jwt.get_unverified_claims(gone["Authorization"].split()[1])["jti"]
        assert await until(lambda: jti in registry_set)
        assert (await reg.get(path, headers=gone)).status_code == 401

        own_redis.stop()
        assert await until(lambda: not registry_set.ready)
        assert (await reg.get(path, headers=kept)).status_code == 404         # valid (no such region yet)
        assert (await reg.get(path, headers=gone)).status_code == 401         # the gateway's database says so
        # revoked while Redis is away: the gateway's database knows, and the registry asks it
        assert (await gw.post("/api/v1/auth/logout", headers=kept)).status_code == 204
        assert (await reg.get(path, headers=kept)).status_code == 401

        own_redis.start()
        started = time.monotonic()
        assert await until(lambda: registry_set.ready, timeout=15)
        assert time.monotonic() - started < 15
        assert (await reg.get(path, headers=gone)).status_code == 401
        # the revocation made during the outage reaches Redis once the gateway's mirror resyncs
        assert await apps["gateway"].state.revocations.resync() >= 2
        kept_jti = jose_jwt.get_unverified_claims(kept["Authorization"].split()[1])["jti"]
        assert await until(lambda: kept_jti in registry_set)
        assert (await reg.get(path, headers=kept)).status_code == 401
