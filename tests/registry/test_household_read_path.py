"""The pure-ASGI household read (``HouseholdReadPath``) answers exactly as the FastAPI route it stands in front of."""

import base64
import json

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from services.registry.households import router as households_router
from services.registry.households.router import HouseholdReadPath
from shared.auth import REVOKED_PREFIX, announce_revoked
from shared.db import Database
from shared.testing import auth, wait_until
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import household
from tests.registry.test_privacy import access_log


@pytest.fixture
def both(registry, monkeypatch):
    """``await both(path, headers)`` → (fast answer, FastAPI route's answer), checking which path answered each."""
    calls = []
    real = households_router.reader_scope_for

    async def counted(state, token):
        calls.append(token)
        return await real(state, token)

    monkeypatch.setattr(households_router, "reader_scope_for", counted)

    async def ask(path: str, headers: dict | None = None, *, fast: bool = True):
        calls.clear()
        fast_answer = await registry.get(path, headers=headers)
        took_fast = bool(calls)
        with monkeypatch.context() as m:
            m.setattr(HouseholdReadPath, "PREFIX", "/no-fast-path/")
            calls.clear()
            route_answer = await registry.get(path, headers=headers)
            assert not calls
        assert took_fast is fast, path
        return fast_answer, route_answer

    return ask


def same(a, b) -> None:
    assert a.status_code == b.status_code
    assert a.content == b.content
    for name in ("content-type", "content-length", "etag", "www-authenticate"):
        assert a.headers.get(name) == b.headers.get(name), name


async def test_fast_read_answers_as_the_route_for_every_caller(registry, token, create, both, settings):
    h = await create()
    other = await create(household(phone=None, payout_account=None))
    url = f"/api/v1/households/{h['id']}"
    db = Database(settings, "registry")
    async with db.sessionmaker() as s, s.begin():
        await s.execute(text("UPDATE household SET helper_user_id = '77' WHERE id = :id"), {"id": h["id"]})
    await db.close()
    callers = {
        "county admin": (token(), 200, "full"),
        "village cadre": (token("village_cadre", VILLAGE, sub="u-cadre"), 200, "full"),
        "township officer": (token("township_officer", TOWNSHIP, sub="u-officer"), 200, "full"),
        "finance officer": (token("finance_officer", sub="u-fin"), 200, "masked"),
        "auditor": (token("auditor", sub="u-aud"), 200, "masked"),
        "service": (token("service", "", sub="funds"), 200, "full"),
        "helper, own household": (token("helper", VILLAGE, sub="77"), 200, "masked"),
        "other township": (token("township_officer", OTHER_TOWNSHIP, sub="u-other"), 404, None),
        "bank": (token("bank", sub="u-bank", bank="NXRCU"), 403, None),
    }
    for name, (t, status, pii) in callers.items():
        before = await access_log(settings)
        fast, route = await both(url, auth(t))
        same(fast, route)
        assert fast.status_code == status, name
        log = (await access_log(settings))[len(before):]
        if status == 200:
            assert fast.json()["pii"] == pii and fast.headers["etag"] == f'"{fast.json()["version"]}"'
            # a full view is logged once per answer, by either path, with the same endpoint
            assert log == ([(log[0][0], log[0][1], f"GET {url}", [h["id"]])] * 2 if pii == "full" else []), name
        else:
            assert fast.headers["content-type"] == "application/problem+json" and log == [], name
    # a helper and another household; a missing one: the same 404
    helper = auth(token("helper", VILLAGE, sub="77"))
    not_mine, route = await both(f"/api/v1/households/{other['id']}", helper)
    same(not_mine, route)
    missing, route = await both("/api/v1/households/999999", helper)
    same(missing, route)
    assert not_mine.status_code == 404 and not_mine.content == missing.content
    # no phone, no account: nulls either way
    fast, route = await both(f"/api/v1/households/{other['id']}", auth(token()))
    same(fast, route)
    assert fast.json()["phone"] is None and fast.json()["payout_account"] is None


@pytest.mark.parametrize("raw", ["0", "007", "+7", "-7", "7.0", "abc", "9223372036854775808", "99999999999999999999",
                                 "%E4%B8%80", "1/", "1/members"])
async def test_ids_not_written_plainly_go_to_the_route(registry, token, both, raw):
    fast, route = await both(f"/api/v1/households/{raw}", auth(token()), fast=False)
    same(fast, route)
    assert fast.status_code in (307, 404, 405, 422)


async def test_the_largest_id_is_read_fast(registry, token, both):
    fast, route = await both("/api/v1/households/9223372036854775807", auth(token()))
    same(fast, route)
    assert fast.status_code == 404


async def test_bad_expired_and_revoked_tokens_are_the_same_401(registry, token, create, both, settings):
    h = await create()
    url = f"/api/v1/households/{h['id']}"
    for headers in (None, {"Authorization": "Bearer"}, {"Authorization": "Basic dTpw"}, auth("not-a-jwt"),
                    auth(token(ttl=-120)), auth(token(role="emperor")), {"Authorization": "bearer  " + token()}):
        fast, route = await both(url, headers)
        same(fast, route)
        assert fast.status_code == (200 if headers and headers["Authorization"].startswith("bearer  ") else 401)
    t = token(sub="u-leaving")
    jti = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "==="))["jti"]
    r = aioredis.from_url(settings.redis_url)
    try:
        await announce_revoked(r, [(jti, 600)])

        async def refused() -> bool:
            return (await registry.get(url, headers=auth(t))).status_code == 401
        assert await wait_until(refused, timeout=3)
        fast, route = await both(url, auth(t))
        same(fast, route)
        assert fast.status_code == 401 and fast.json()["detail"] == "Token has been revoked"
    finally:
        await r.delete(REVOKED_PREFIX + jti)
        await r.aclose()


async def test_request_id_and_metrics_as_for_the_route(registry, token, create, settings):
    h = await create()
    r = await registry.get(f"/api/v1/households/{h['id']}", headers=auth(token()) | {"X-Request-ID": "rid-fast"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "rid-fast"
    db = Database(settings, "registry")
    async with db.sessionmaker() as s:
        rid = (await s.execute(text("SELECT request_id FROM pii_access_log ORDER BY id DESC LIMIT 1"))).scalar()
    await db.close()
    assert rid == "rid-fast"
    text_ = (await registry.get("/metrics")).text
    assert ('jingzhun_http_requests_total{method="GET",route="/api/v1/households/{household_id}",'
            'service="registry",status="200"} 1.0' in text_)
