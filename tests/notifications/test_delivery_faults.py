"""SMS delivery under faults (issue 11, defect 12), counted at a real HTTP stand-in for the provider: runs that
overlap, a worker SIGKILLed in the middle of a delivery, a provider that hangs. Every message arrives, the
provider never has more requests open than the configured concurrency, and what is sent twice is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.notifications import locks
from services.notifications.pending.jobs import resume_pending
from services.notifications.sms.jobs import deliver_sms
from shared.db import Database
from shared.queue import queue_name
from shared.settings import Settings
from shared.testing import free_port
from tests.notifications.conftest import FAST, envelope, handle, make_ctx, paid, rows, serving
from tests.notifications.sms_worker import TestPolicy

ROOT = Path(__file__).resolve().parents[2]


async def queue_payments(settings: Settings, db: Database, n: int) -> set[str]:
    """``n`` payment.paid SMS (one per household of a batch), queued as the worker would; their ids."""
    ctx = make_ctx(settings, db)
    for i in range(n):
        assert await handle(ctx, envelope("payment.paid", paid(household_id=i + 1, head_phone=f"1395{i:07d}")))
    return {str(r.id) for r in await rows(db, "SELECT id FROM sms_message")}


async def statuses(db: Database) -> Counter:
    return Counter(r.status for r in await rows(db, "SELECT status FROM sms_message"))


def worker_ctx(settings: Settings, db: Database, http, policy) -> dict:
    """What the worker's on_startup puts in its context; arq then hands each job a copy of it."""
    return {"settings": settings, "db": db, "http": http, "sms_policy": policy}


async def test_runs_started_together_never_open_more_than_the_configured_concurrency(settings, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    provider.delay = 0.02
    policy = replace(FAST, concurrency=3, budget=60)
    one, other = Database(settings, "notifications"), Database(settings, "notifications")   # two workers
    try:
        ids = await queue_payments(settings, one, 200)   # a payment batch: more than any one claim used to take
        jobs = [deliver_sms({**worker_ctx(settings, db, http, policy), "job_id": f"cron:deliver_sms:{n}"})
                for n, db in enumerate([one, one, other, other])]
        reports = await asyncio.gather(*jobs)
        assert sum(r["sent"] for r in reports if r) == 200
        assert await statuses(one) == {"sent": 200}
    finally:
        await one.close()
        await other.close()
    assert provider.max_open <= 3, f"{provider.max_open} requests open at once against a concurrency of 3"
    assert sorted(provider.keys()) == sorted(ids)                  # each message sent once


async def test_a_provider_that_hangs_gets_each_hung_message_twice_at_most(settings, ndb, provider, http):
    # the production proportions: 50 due, 10 in flight, a lease of 4 timeouts (10 s + 30 s)
    settings = settings.model_copy(update={"sms_url": provider.url})
    policy = TestPolicy(delays=(3.0, 3.0), timeout=0.4, jitter=0, budget=10, lease_seconds=1.6)
    ids = await queue_payments(settings, ndb, 50)
    provider.hang_seconds = 5.0
    provider.hang_until = time.monotonic() + 2.5           # for 2.5 s, every post hangs (beyond the timeout)

    ctx = worker_ctx(settings, ndb, http, policy)
    runs: list[asyncio.Task] = []
    deadline = time.monotonic() + 20
    while await statuses(ndb) != {"sent": 50} and time.monotonic() < deadline:
        runs.append(asyncio.create_task(deliver_sms({**ctx, "job_id": f"cron:deliver_sms:{len(runs)}"})))
        await asyncio.sleep(0.2)                          # the cron starts a run every tick, busy or not
    await asyncio.gather(*runs)

    assert await statuses(ndb) == {"sent": 50}
    per_message = Counter(provider.keys())
    assert set(per_message) == ids
    hung = {p.headers["idempotency-key"] for p in provider.posts if p.at < provider.hang_until}
    assert hung, "nothing was posted while the provider hung"
    assert max(per_message[k] for k in hung) <= 2, sorted(Counter(per_message[k] for k in hung).items())


async def test_one_hanging_call_holds_up_its_own_message_only(settings, ndb, provider, http):
    # one post hangs past the timeout; messages that fall due meanwhile go out at once, in the same run,
    # not after the hung call gives up (before, the run's other lanes had ended and cron ticks found the
    # run's lock still held: everything new waited for the timeout)
    settings = settings.model_copy(update={"sms_url": provider.url})
    policy = replace(FAST, timeout=4.0, concurrency=4, budget=20)
    provider.hang_first, provider.hang_seconds = 1, 10.0
    (hung,) = await queue_payments(settings, ndb, 1)
    ctx = worker_ctx(settings, ndb, http, policy)
    runs = [asyncio.create_task(deliver_sms({**ctx, "job_id": "cron:deliver_sms:0"}))]
    deadline = time.monotonic() + 5
    while not provider.posts:
        assert time.monotonic() < deadline, "the first message was never posted"
        await asyncio.sleep(0.01)
    hung_at = provider.posts[0].at

    events = make_ctx(settings, ndb)
    for n in range(2, 22):                       # 20 more, as a payment batch arriving meanwhile
        assert await handle(events, envelope("payment.paid", paid(household_id=n)))
    queued_at = time.monotonic()
    others = {str(r.id) for r in await rows(ndb, "SELECT id FROM sms_message")} - {hung}
    while {p.json["id"] for p in provider.posts} < others | {hung}:
        assert time.monotonic() - hung_at < policy.timeout, "the other messages waited for the hung call"
        runs.append(asyncio.create_task(deliver_sms({**ctx, "job_id": f"cron:deliver_sms:{len(runs)}"})))
        await asyncio.sleep(0.1)                # cron ticks (they find the run going and return)
    (first,) = await rows(ndb, "SELECT status, attempts FROM sms_message WHERE id = :id", id=hung)
    assert first.status == "queued" and first.attempts == 1    # the hung call is still open meanwhile
    last = max(p.at for p in provider.posts if p.json["id"] in others)
    assert last - queued_at < 1.0, f"the last of 20 went {last - queued_at:.2f}s after it was queued"
    deadline = time.monotonic() + policy.timeout + 10
    while await statuses(ndb) != {"sent": 21}:                # the hung one: timed out, then retried
        assert time.monotonic() < deadline, await statuses(ndb)
        runs.append(asyncio.create_task(deliver_sms({**ctx, "job_id": f"cron:deliver_sms:{len(runs)}"})))
        await asyncio.sleep(0.1)
    reports = await asyncio.gather(*runs)
    assert sum(r["sent"] for r in reports if r) == 21
    assert Counter(provider.keys())[hung] == 2 and len(provider.posts) == 22


def worker_env(settings: Settings, policy: TestPolicy) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
    env.update({
        "JINGZHUN_DATABASE_URL": settings.database_url, "JINGZHUN_REDIS_URL": settings.redis_url,
        "JINGZHUN_DATA_DIR": str(settings.data_dir), "JINGZHUN_DB_PREFIX": settings.db_prefix,
        "JINGZHUN_QUEUE_PREFIX": settings.queue_prefix, "JINGZHUN_SMS_URL": settings.sms_url,
        "JINGZHUN_GATEWAY_URL": f"http://127.0.0.1:{free_port()}", "JINGZHUN_LOG_LEVEL": "warning",
        "JINGZHUN_QUIET_HOURS": settings.quiet_hours,
        "TEST_SMS_POLICY": json.dumps(asdict(policy)),
    })
    return env


@contextlib.asynccontextmanager
async def own_queue(settings: Settings) -> AsyncIterator[Settings]:
    """``settings`` with a queue of its own, removed afterwards: a killed worker leaves its job there, marked
    in progress, and that must not hold up the burst workers of later tests on the session's queue."""
    own = settings.model_copy(update={"queue_prefix": f"{settings.queue_prefix}-killed"})
    try:
        yield own
    finally:
        r = aioredis.from_url(own.redis_url)
        try:
            await r.delete(queue_name(own, "notifications"))
        finally:
            await r.aclose()


async def start_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.notifications.sms_worker", cwd=ROOT,
                                                env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_worker_killed_mid_delivery_resends_at_most_its_in_flight_claim(settings, ndb, provider):
    async with own_queue(settings.model_copy(update={"sms_url": provider.url})) as settings:
        await killed_mid_delivery(settings, ndb, provider)


async def killed_mid_delivery(settings: Settings, ndb: Database, provider) -> None:
    policy = TestPolicy(delays=(0.2, 0.2), timeout=2.0, jitter=0, budget=45, concurrency=5, lease_seconds=3.0)
    ids = await queue_payments(settings, ndb, 150)
    provider.delay = 0.1                                   # 5 in flight at a time: about 50 a second
    env = worker_env(settings, policy)

    worker = await start_worker(env)
    try:
        async def halfway() -> bool:
            assert worker.returncode is None, "the worker stopped by itself"
            return len(provider.posts) >= 60
        await wait_for(halfway, 30, "the worker did not start delivering")
        open_at_kill = provider.open
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    seen_at_kill = len(provider.posts)
    assert 0 < seen_at_kill < 150

    worker = await start_worker(env)
    try:
        async def all_sent() -> bool:
            return await statuses(ndb) == {"sent": 150}
        await wait_for(all_sent, 60, "not every message was delivered after the restart")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.wait(), 15)
        except TimeoutError:
            worker.kill()
            await worker.wait()

    per_message = Counter(provider.keys())
    assert set(per_message) == ids                          # every message delivered
    resent = sum(n - 1 for n in per_message.values())
    assert open_at_kill <= policy.concurrency
    assert resent <= policy.concurrency, (f"{resent} messages sent again after a SIGKILL with {open_at_kill} "
                                          f"requests open (concurrency {policy.concurrency})")


async def test_pending_runs_started_together_ask_a_slow_gateway_one_at_a_time(settings, ndb):
    gateway = {"open": 0, "max_open": 0, "asked": 0}
    app = FastAPI()

    @app.get("/internal/users")
    async def users(request: Request):
        gateway["open"] += 1
        gateway["asked"] += 1
        gateway["max_open"] = max(gateway["max_open"], gateway["open"])
        try:
            await asyncio.sleep(2)
            return JSONResponse({"title": "busy"}, status_code=503)
        finally:
            gateway["open"] -= 1

    away = settings.model_copy(update={"gateway_url": f"http://127.0.0.1:{free_port()}"})
    ctx = make_ctx(away, ndb)
    for n in range(80):          # objections whose officers must be asked of the gateway: all wait for it
        created = {"objection_id": n + 1, "notice_id": 3, "notice_title": "欣荣村2020年贫困户识别公示",
                   "kind": "registration", "region_code": "640122100001"}
        assert await handle(ctx, envelope("objection.created", created))
    assert len(await rows(ndb, "SELECT id FROM pending_event WHERE status = 'waiting'")) == 80
    async with ndb.sessionmaker() as s:
        await s.execute(text("UPDATE pending_event SET next_attempt_at = now()"))
        await s.commit()

    async with serving(app) as base:      # now the gateway answers, slowly, that it is busy
        ctx = make_ctx(settings.model_copy(update={"gateway_url": base}), ndb)
        results = await asyncio.gather(*(resume_pending({**ctx, "job_id": f"cron:resume_pending:{n}"})
                                         for n in range(4)))
    assert gateway["asked"] >= 1
    assert gateway["max_open"] == 1, f"{gateway['max_open']} runs waited on the gateway at once"
    assert sorted(results, key=lambda r: r is None) == [0, None, None, None]


async def test_a_run_whose_lock_connection_is_cut_claims_nothing_more(settings, ndb, provider, http):
    # the lock goes with its connection: the run that had it finishes what it has in flight (one post per
    # lane at most) and claims nothing more, so it never keeps sending beside the run that takes over
    settings = settings.model_copy(update={"sms_url": provider.url})
    provider.delay = 0.1
    policy = replace(FAST, concurrency=2, budget=20)
    ids = await queue_payments(settings, ndb, 40)
    first = asyncio.create_task(deliver_sms(worker_ctx(settings, ndb, http, policy)))

    async def sending() -> bool:
        return len(provider.posts) >= 4
    await wait_for(sending, 10, "the first run did not start sending")
    (cut,) = await rows(ndb, "SELECT pg_terminate_backend(pid) AS done FROM pg_locks WHERE locktype = 'advisory' "
                             "AND classid = :ns AND objid = :key", ns=locks.NAMESPACE, key=locks.SMS_DELIVERY)
    seen_at_cut = len(provider.posts)
    assert cut.done
    second = await deliver_sms(worker_ctx(settings, ndb, http, policy))
    first = await first

    assert second is not None and first["sent"] + second["sent"] == 40
    assert first["sent"] <= seen_at_cut + policy.concurrency, (first, seen_at_cut)   # a claim under way at the cut
    assert sorted(provider.keys()) == sorted(ids)                                    # each message once
