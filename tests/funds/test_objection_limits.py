"""Objection spam: per address and per notice, in Redis or in process, while the board keeps answering."""

import asyncio

import pytest
import redis.asyncio as aioredis
from starlette.requests import Request

from services.funds.app import create
from services.funds.notices.ratelimit import PER_ADDRESS, PER_NOTICE, client_address
from shared.testing import app_client
from tests.funds.conftest import notice_body

OBJECTION = {"contact_name": "张三", "contact_phone": "13912345678", "content": "这户人家条件很好，不应当纳入。"}


async def test_a_hundred_posts_from_one_address_get_429_and_the_board_still_answers(funds, open_notice):
    opened = await open_notice()
    url = f"/public/notices/{opened['id']}/objections"
    spammer = {"x-forwarded-for": "36.110.0.66"}

    async def post(i: int):
        return await funds.post(url, json=OBJECTION | {"content": f"第{i}条：这户人家条件很好。"}, headers=spammer)

    async def read():
        return await funds.get(f"/public/notices/{opened['id']}")

    answers = await asyncio.gather(*[post(i) for i in range(50)], *[read() for _ in range(5)],
                                   *[post(i) for i in range(50, 100)])
    posts = [a for a in answers if a.request.method == "POST"]
    reads = [a for a in answers if a.request.method == "GET"]
    assert len(posts) == 100
    assert sum(a.status_code == 201 for a in posts) == PER_ADDRESS.count
    limited = [a for a in posts if a.status_code == 429]
    assert len(limited) == 100 - PER_ADDRESS.count
    assert all(a.headers["content-type"] == "application/problem+json" for a in limited)
    assert all(1 <= int(a.headers["retry-after"]) <= PER_ADDRESS.window for a in limited)
    assert limited[0].json()["type"].endswith("/rate-limited")
    assert all(r.status_code == 200 for r in reads)
    after = await read()
    assert after.status_code == 200 and after.json()["objections"]["received"] == PER_ADDRESS.count
    assert (await funds.get(f"/public/notices/{opened['id']}.html")).status_code == 200
    # the form gets the page back with the reason, and the same Retry-After
    form = await funds.post(url, data=OBJECTION, headers=spammer)
    assert form.status_code == 429 and "提交过于频繁" in form.text and form.headers["retry-after"]
    # someone else is not held back by the spammer
    assert (await funds.post(url, json=OBJECTION, headers={"x-forwarded-for": "36.110.0.67"})).status_code == 201
    # a spoofed X-Forwarded-For prefix does not buy a fresh address
    spoofed = await funds.post(url, json=OBJECTION, headers={"x-forwarded-for": "6.6.6.6, 36.110.0.66"})
    assert spoofed.status_code == 429


async def test_one_notice_takes_at_most_its_hourly_share(funds, open_notice):
    opened = await open_notice()
    url = f"/public/notices/{opened['id']}/objections"
    for i in range(PER_NOTICE.count):
        r = await funds.post(url, json=OBJECTION, headers={"x-forwarded-for": f"58.18.{i // 250}.{i % 250 + 1}"})
        assert r.status_code == 201, (i, r.text)
    r = await funds.post(url, json=OBJECTION, headers={"x-forwarded-for": "58.19.0.1"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) <= PER_NOTICE.window
    other = await open_notice(requester_ref="another")
    r = await funds.post(f"/public/notices/{other['id']}/objections", json=OBJECTION,
                         headers={"x-forwarded-for": "58.19.0.2"})
    assert r.status_code == 201


async def test_without_redis_the_limit_is_kept_in_process(settings, service_headers):
    app = create(settings)
    async with app_client(app) as client:
        r = await client.post("/internal/notices", json=notice_body(), headers=service_headers)
        notice_id = r.json()["id"]
        await app.state.redis.aclose()
        app.state.redis = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)  # nobody there
        try:
            codes = [(await client.post(f"/public/notices/{notice_id}/objections", json=OBJECTION,
                                        headers={"x-forwarded-for": "36.110.0.99"})).status_code for _ in range(8)]
            assert codes == [201] * PER_ADDRESS.count + [429] * (8 - PER_ADDRESS.count)
            assert (await client.get(f"/public/notices/{notice_id}")).status_code == 200
        finally:
            await app.state.redis.aclose()


def request_from(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "client": (peer, 50000)})


@pytest.mark.parametrize("peer, forwarded, counted", [
    ("127.0.0.1", None, "127.0.0.1"),                                   # straight to the service
    ("127.0.0.1", "36.110.0.5", "36.110.0.5"),                        # via the gateway
    ("127.0.0.1", "6.6.6.6, 36.110.0.5", "36.110.0.5"),               # the client's own header is ignored
    ("10.0.0.3", "6.6.6.6, 36.110.0.5, 10.0.0.9", "36.110.0.5"),      # ingress, then gateway
    ("127.0.0.1", "garbage, 36.110.0.5", "36.110.0.5"),
    ("127.0.0.1", "10.1.2.3", "10.1.2.3"),                              # a client on the local network
    ("36.110.0.8", "1.2.3.4", "36.110.0.8"),                          # a public peer cannot claim another address
    ("127.0.0.1", "2400:da00:1:2:aaaa::1", "2400:da00:1:2::/64"),          # IPv6 counted per /64
    ("127.0.0.1", "::ffff:36.110.0.5", "36.110.0.5"),
])
def test_the_counted_address(peer, forwarded, counted):
    assert client_address(request_from(peer, forwarded)) == counted
