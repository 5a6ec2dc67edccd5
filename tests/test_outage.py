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
from sqlalchemy import make_url, text

from services.gateway.app import create as create_gateway
from services.notifications import worker as notifications_worker
from services.registry.app import create as create_registry
from services.notifications.app import create as create_notifications
from services.notifications.handlers import HANDLERS
from jingzhun import children, supervisor
from shared import migrations, outbox, queue
from shared.db import Database
from shared.embedded import EmbeddedPostgres, RunDir
from shared.settings import Settings
from shared.testing import auth, running, wait_until
from shared.worker import worker_settings
from tests.notifications.conftest import envelope, paid, provider  # noqa: F401 - the provider fixture
from tests.shared.workers import publish, worker_running
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE
from tests.registry.conftest import household

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

class DyingDatabase:
    """A TCP stand-in for the PostgreSQL server that can die like one: ``kill()`` resets every connection (the
    server rolls back what was open) and refuses new ones until ``revive()``."""

    def __init__(self, settings) -> None:
        url = make_url(settings.database_url)
        socket_dir = url.query.get("host")
        self.unix = f"{socket_dir}/.s.PGSQL.{url.port or 5432}" if socket_dir else None
        self.target = (url.host or "127.0.0.1", url.port or 5432)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.kills = 0

    def url_for(self, settings) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def start(self) -> "DyingDatabase":
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _link(self, reader, writer) -> None:
        try:
            if self.unix:
                up_reader, up_writer = await asyncio.open_unix_connection(self.unix)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self.links.add(link)

        async def pump(src, dst) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, RuntimeError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self.links.discard(link)

    async def kill(self) -> None:
        self.kills += 1
        self.server.close()
        for a, b in list(self.links):
            a.transport.abort()
            b.transport.abort()
        self.server = None

    async def revive(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self.server is not None:
            await self.kill()


async def count(db: Database, sql: str) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(text(sql))).scalar_one()


class KilledPostgres:
    """A PostgreSQL of the test's own whose postmaster is SIGKILLed, then started again on its data (crash recovery)."""

    def __init__(self, data_dir) -> None:
        self.run = RunDir(data_dir)
        self.pg = EmbeddedPostgres(data_dir, self.run.path)

    async def start(self) -> "KilledPostgres":
        await asyncio.to_thread(self.pg.start)
        return self

    def url_for(self, settings) -> str:
        return self.pg.url

    async def kill(self) -> None:
        os.kill(self.pg.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(self.pg.proc.wait)

    async def revive(self) -> None:
        for _ in range(50):          # its orphaned backends must notice the death and leave its shared memory first
            try:
                await asyncio.to_thread(self.pg.start)
                return
            except RuntimeError:
                await asyncio.sleep(0.2)
        raise RuntimeError("PostgreSQL did not start again after the kill")

    async def close(self) -> None:
        await asyncio.to_thread(self.pg.stop)
        self.pg.remove_outside_data()
        self.run.cleanup()


@pytest.mark.parametrize("death", ["connections reset", "postmaster SIGKILLed"])
async def test_every_payment_sms_arrives_once_when_postgresql_dies_while_events_are_handled(settings, own_redis,
                                                                                          provider, tmp_path, death):
    """Issue 11 defect 10: the server dies under 200 payment.paid events being consumed; every event is applied once
    and every head gets one SMS (one Idempotency-Key each), none dead-lettered. Two deaths: a stand-in that resets
    every connection and refuses new ones for 3 s, and a real server SIGKILLed and started again."""
    if death == "connections reset":
        dying = await DyingDatabase(settings).start()
        direct_url = dying_target(dying)
    else:
        dying = await KilledPostgres(tmp_path / "pg").start()
        direct_url = dying.url_for(settings)
        await asyncio.to_thread(migrations.upgrade, settings.model_copy(update={"database_url": direct_url}),
                                "notifications")
    settings = settings.model_copy(update={"redis_url": own_redis.url, "database_url": dying.url_for(settings),
                                           "sms_url": provider.url})
    direct = Database(settings.model_copy(update={"database_url": direct_url}), "notifications")
    events = [envelope("payment.paid", paid(household_id=n + 1, head_phone=f"1395123{n:04d}")) for n in range(200)]

    async def bank_posts_results() -> None:          # lines reported paid over a couple of seconds
        for i in range(0, len(events), 10):
            await publish(settings, "notifications", *events[i:i + 10])
            await asyncio.sleep(0.05)

    try:
        async with worker_running(notifications_worker.settings(settings)) as worker:
            posting = asyncio.create_task(bank_posts_results())
            assert await wait_until(lambda: count(direct, "SELECT count(*) >= 20 FROM processed_events"), 20)
            await dying.kill()                        # mid-handling: some in their transaction, more queued
            await asyncio.sleep(3)
            await dying.revive()
            await posting

            async def all_sent() -> bool:
                return await count(direct, "SELECT count(*) FROM sms_message WHERE status = 'sent'") == 200

            assert await wait_until(all_sent, timeout=90, interval=0.25), (
                await count(direct, "SELECT count(*) FROM sms_message"), len(set(provider.keys())))
            assert worker.jobs_retried > 0            # the outage did hit consumers, which were run again
        assert await count(direct, "SELECT count(*) FROM processed_events") == 200
        assert await count(direct, "SELECT count(*) FROM sms_message") == 200
        assert await count(direct, "SELECT count(*) FROM dead_letters") == 0
        keys = provider.keys()
        assert len(set(keys)) == 200                  # every head once per Idempotency-Key
        phones = {p.json["phone"] for p in provider.posts}
        assert phones == {e["payload"]["head_phone"] for e in events}
    finally:
        await direct.close()
        await dying.close()


def dying_target(dying: DyingDatabase) -> str:
    """The real server behind the stand-in (for the test's own look at the data)."""
    if dying.unix:
        return f"postgresql://postgres@/postgres?host={dying.unix.rsplit('/', 1)[0]}"
    return f"postgresql://postgres@{dying.target[0]}:{dying.target[1]}/postgres"


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
