"""Redis goes down in the middle of the day: cadres keep working, and nothing they did is lost or doubled."""

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time

import pytest
from arq.worker import Worker

from services.gateway.app import create as create_gateway
from services.notifications import worker as notifications_worker
from services.registry.app import create as create_registry
from services.notifications.app import create as create_notifications
from services.notifications.handlers import HANDLERS
from jingzhun import children, supervisor
from shared import outbox, queue
from shared.db import Database
from shared.settings import Settings
from shared.testing import auth, running, wait_until
from shared.worker import worker_settings
from tests.notifications.conftest import envelope, paid
from tests.shared.workers import publish, worker_running
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE
from tests.registry.conftest import household
from tests.outage_faults import count

ADMIN_PASSWORD = "Helan-admin-2024"


async def login(gw, username: str, password: str) -> dict[str, str]:
    r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return auth(r.json()["access_token"])


async def test_helper_assignment_during_a_redis_outage_reaches_the_helper_once(settings, own_redis):
    settings = settings.model_copy(update={"redis_url": own_redis.url, "admin_password": ADMIN_PASSWORD})
    apps = {"gateway": create_gateway(settings), "registry": create_registry(settings),
            "notifications": create_notifications(settings)}
    async with running(apps, settings) as c:
        gw, reg = c["gateway"], c["registry"]
        admin = await login(gw, "admin", ADMIN_PASSWORD)
        for code, name in ((COUNTY, "贺兰县"), (TOWNSHIP, "洪广镇"), (VILLAGE, "欣荣村")):
            assert (await reg.post("/api/v1/regions", json={"code": code, "name": name}, headers=admin)).status_code == 201
        r = await gw.post("/api/v1/auth/users", headers=admin, json={
            "username": "helper.li", "password": "Helper-pass-2020", "display_name": "李帮扶", "phone": "13995112233",
            "role": "helper", "region_code": VILLAGE})
        assert r.status_code == 201, r.text
        helper_id = r.json()["id"]
        helper = await login(gw, "helper.li", "Helper-pass-2020")
        home = (await reg.post("/api/v1/households", json=household(), headers=admin)).json()

        own_redis.stop()
        # the write succeeds: the registry asks the gateway about revocations instead of Redis
        r = await reg.put(f"/api/v1/households/{home['id']}/helper", json={"user_id": helper_id}, headers=admin)
        assert r.status_code == 200, r.text
        relay = outbox.Relay(settings=settings, service="registry", sessionmaker=apps["registry"].state.db.sessionmaker)
        with pytest.raises(Exception):
            await relay.relay_once()

        own_redis.start()
        assert await relay.drain() >= 1
        await run_notifications_worker(settings)
        await run_notifications_worker(settings)      # a second pass finds nothing new to do
        inbox = (await c["notifications"].get("/api/v1/me/notifications", headers=helper)).json()["items"]
        assert len(inbox) == 1 and inbox[0]["kind"] == "helper.assigned"
        assert home["household_no"] in inbox[0]["body"]


async def run_notifications_worker(settings) -> None:
    worker = Worker(**{**notifications_worker.settings(settings), "burst": True, "handle_signals": False,
                       "poll_delay": 0.01})
    try:
        await asyncio.wait_for(worker.main(), 30)
    finally:
        await worker.close()


# --- faults while events are handled (issue 11: defects 10, 11, 13) ----------------------------------------------

async def test_a_job_in_flight_when_redis_is_killed_runs_again_seconds_after_redis_is_back(settings, own_redis):
    """Issue 11 defect 11: arq's in-progress mark of a job whose worker died with Redis came back from the
    append-only file for 610 s; the lease is now a few seconds."""
    settings = settings.model_copy(update={"redis_url": own_redis.url})
    ndb = Database(settings, "notifications")
    entered, runs = asyncio.Event(), []

    async def slow(session, event, ctx):
        runs.append(ctx["job_try"])
        if len(runs) == 1:
            entered.set()
            await asyncio.sleep(3600)                 # still in flight when everything dies
        await HANDLERS["payment.paid"](session, event, ctx)

    ws = worker_settings("notifications", handlers={"payment.paid": slow}, settings=settings, relay=False)
    try:
        await publish(settings, "notifications", envelope("payment.paid", paid()))
        first = queue.QueueWorker(**{**ws, "handle_signals": False, "poll_delay": 0.01})
        first.main_task = asyncio.create_task(first.main())
        await asyncio.wait_for(entered.wait(), 10)
        await asyncio.sleep(2)                        # the lease reaches the append-only file (fsync every second)
        os.kill(own_redis.proc.pid, signal.SIGKILL)
        own_redis.proc.wait()
        await crash(first)                            # its worker dies with it (the machine went down)
        own_redis.start()
        back = time.monotonic()
        async with worker_running(ws):
            handled = await wait_until(lambda: count(ndb, "SELECT count(*) FROM sms_message"), timeout=30)
            waited = time.monotonic() - back
        assert handled == 1 and runs == [1, 2]
        assert waited < queue.LEASE_SECONDS + 3, f"the job waited {waited:.1f} s after Redis came back"
        assert await count(ndb, "SELECT count(*) FROM processed_events") == 1
    finally:
        await ndb.close()


async def crash(worker) -> None:
    """A worker that dies without a word: its jobs stop, nothing is told to Redis."""
    worker.main_task.cancel()
    for task in list(worker.tasks.values()):
        task.cancel()
    await asyncio.gather(worker.main_task, *worker.tasks.values(), return_exceptions=True)
    await worker.on_shutdown(worker.ctx)
    with contextlib.suppress(Exception):
        await worker.pool.connection_pool.disconnect()


async def test_a_worker_rides_out_a_redis_that_keeps_crashing_and_consumes_once_it_is_back(settings, own_redis):
    """Issue 11 defect 13, the worker: it waits for Redis instead of exiting, and carries on."""
    settings = settings.model_copy(update={"redis_url": own_redis.url})
    ndb = Database(settings, "notifications")
    try:
        async with worker_running(notifications_worker.settings(settings)) as worker:
            await asyncio.sleep(0.5)
            for _ in range(4):
                os.kill(own_redis.proc.pid, signal.SIGKILL)
                own_redis.proc.wait()
                await asyncio.sleep(1.5)
                assert not worker.main_task.done()
                own_redis.start()
                await asyncio.sleep(0.5)
            assert worker.outages >= 1 and not worker.main_task.done()
            await publish(settings, "notifications", envelope("payment.paid", paid()))
            assert await wait_until(lambda: count(ndb, "SELECT count(*) FROM sms_message"), timeout=15) == 1
            assert worker.down_since is None
    finally:
        await ndb.close()


def test_up_keeps_serving_writes_while_redis_keeps_crashing(settings, tmp_path, monkeypatch, capfd):
    """Issue 11 defect 13, the supervisor: after 6 Redis exits in 300 s it stopped the whole stack. Now it restarts
    Redis for as long as it takes, says loudly that the queue is down, the worker stays up, and writes answer."""
    monkeypatch.setattr(supervisor, "MAX_BACKOFF", 0.3)
    env = {**os.environ, "JINGZHUN_DATABASE_URL": settings.database_url, "JINGZHUN_DB_PREFIX": settings.db_prefix,
           "JINGZHUN_QUEUE_PREFIX": settings.queue_prefix, "JINGZHUN_DATA_DIR": str(settings.data_dir),
           "PYTHONPATH": str(supervisor.PROJECT_ROOT)}
    env.pop("JINGZHUN_REDIS_URL", None)
    # `up`'s own plan: its embedded Redis, and the notifications worker (the services run in-process below)
    sup = supervisor.Supervisor(Settings(data_dir=tmp_path / "data", database_url=settings.database_url), environ=env)
    sup._start_servers(env)
    (server,) = sup.servers
    redis = server.server
    sup._plan_children(env)
    sup.children = [c for c in sup.children if c.name == "notifications-worker"]
    (worker,) = sup.children
    settings = settings.model_copy(update={"redis_url": redis.url, "admin_password": ADMIN_PASSWORD})
    worker.start()
    outcome: list[int] = []
    watching = threading.Thread(target=lambda: outcome.append(sup.watch()), daemon=True)
    watching.start()
    try:
        asyncio.run(_write_through_crashes(settings, redis, worker, watching))
        assert outcome == [] and watching.is_alive()          # `up` is still running
        out = capfd.readouterr()
        assert "THE JOB QUEUE IS DOWN: redis exited" in out.err and "APIs keep serving" in out.err
        assert "stopping everything" not in out.err
        assert "This worker keeps running and reconnects" in out.out + out.err      # the worker says so too
    finally:
        sup.stop_signal = signal.SIGTERM
        watching.join(10)
        sup.shutdown()


async def _write_through_crashes(settings, redis, worker, watching) -> None:
    apps = {"gateway": create_gateway(settings), "registry": create_registry(settings)}
    pid = worker.proc.pid
    ndb = Database(settings, "notifications")
    try:
        async with running(apps, settings) as c:
            admin = await login(c["gateway"], "admin", ADMIN_PASSWORD)
            r = await c["registry"].post("/api/v1/regions", json={"code": COUNTY, "name": "贺兰县"}, headers=admin)
            assert r.status_code == 201, r.text
            assert await wait_until(lambda: _worker_polling(settings), timeout=60), "the worker never started"
            for n in range(8):                        # more than the 6 exits in 300 s that stopped everything
                os.kill(redis.proc.pid, signal.SIGKILL)
                await asyncio.sleep(0.1)
                r = await c["registry"].post("/api/v1/regions", headers=admin,
                                             json={"code": f"640122{100 + n:03d}000", "name": f"镇{n}"})
                assert r.status_code == 201, r.text      # a write while the queue is down
                assert await wait_until(lambda: _ping(redis), timeout=10), "the supervisor did not restart Redis"
                assert watching.is_alive()
            assert worker.proc is not None and worker.proc.pid == pid and worker.proc.poll() is None
            await publish(settings, "notifications", envelope("payment.paid", paid()))
            assert await wait_until(lambda: count(ndb, "SELECT count(*) FROM sms_message"), timeout=20) == 1
    finally:
        await ndb.close()


async def _worker_polling(settings) -> bool:
    """The worker is connected and polling its queue: arq writes its health key on its first poll."""
    pool = await queue.connect(settings)
    try:
        return bool(await pool.exists(f"{queue.queue_name(settings, 'notifications')}:health-check"))
    finally:
        await pool.aclose()


async def _ping(redis) -> bool:
    return redis.proc is not None and redis.ping()


async def test_an_event_relayed_just_before_redis_died_without_writing_it_down_is_relayed_again(settings, own_redis):
    """Redis writes its append-only file once a second: killed right after the relay handed it a job (and marked the
    outbox row sent), it comes back without that job. The relay notices the new Redis and hands it over again."""
    settings = settings.model_copy(update={"redis_url": own_redis.url})
    registry, ndb = Database(settings, "registry"), Database(settings, "notifications")
    relay = outbox.Relay(settings=settings, service="registry", sessionmaker=registry.sessionmaker,
                         poll_seconds=0.2)
    relaying = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)                      # the relay knows the Redis it relays to
        async with registry.sessionmaker() as s:
            await outbox.emit(s, topic="helper.assigned", to=["notifications"], payload={
                "helper_user_id": "u-helper-7", "household_no": "6401221000010001", "head_name": "马文军",
                "village_name": "欣荣村"})
            await s.commit()
        assert await wait_until(lambda: count(registry, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"))
        os.kill(own_redis.proc.pid, signal.SIGKILL)
        own_redis.proc.wait()
        for f in own_redis.dir.iterdir():            # what had not reached the disk is gone
            f.unlink()
        own_redis.start()
        async with worker_running(notifications_worker.settings(settings)):
            assert await wait_until(lambda: count(ndb, "SELECT count(*) FROM inbox_message"), timeout=15) == 1
            await asyncio.sleep(1)
        assert await count(ndb, "SELECT count(*) FROM inbox_message") == 1
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
        await registry.close()
        await ndb.close()


def test_a_worker_that_keeps_crashing_is_restarted_for_as_long_as_it_takes_without_stopping_up(tmp_path, monkeypatch,
                                                                                             capsys):
    """The APIs do not need the workers to answer writes: `up` restarts a crash-looping worker and says so, loudly,
    where it stopped everything after 6 exits in 300 s."""
    monkeypatch.setattr(supervisor, "MAX_BACKOFF", 0.05)
    sup = supervisor.Supervisor(Settings(data_dir=tmp_path / "data", database_url="x", redis_url="x"))
    sup._plan_children({"JINGZHUN_DATA_DIR": str(tmp_path / "data")})
    workers = [c for c in sup.children if c.name.endswith("-worker")]
    assert workers and not any(w.essential for w in workers)
    assert all(c.essential for c in sup.children if c not in workers)     # a crash-looping API still stops `up`
    broken = children.Child("notifications-worker", [sys.executable, "-c", "raise SystemExit(7)"], dict(os.environ),
                       essential=False)
    sup.children = [broken]
    broken.start()
    threading.Timer(4, lambda: setattr(sup, "stop_signal", signal.SIGTERM)).start()
    assert sup.watch() == 0                                   # ran until told to stop
    sup.shutdown()
    err = capsys.readouterr().err
    assert "stopping everything" not in err
    assert err.count("A WORKER IS DOWN: notifications-worker exited with code 7") > 6
