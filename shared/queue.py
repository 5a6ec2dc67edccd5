"""The job queue (arq over Redis), behind one small module so it can be swapped.

Two things arq does not do on its own, done here (:class:`QueueWorker`):

- **Short leases.** arq marks a running job with ``arq:in-progress:<job_id>`` for the longest job timeout + 10 s
  (610 s here), so a job whose worker died (or whose Redis was SIGKILLed and restored from its append-only file)
  waits ten minutes before any worker may take it again. Here that key is a lease of :data:`LEASE_SECONDS`,
  renewed every :data:`RENEW_SECONDS` by the worker running the job: a job left behind by a dead worker or a
  restarted Redis is taken again within seconds. The job's own timeout still applies (arq enforces it itself).
- **Riding out a Redis outage.** arq's worker exits on the first Redis error. Here it logs loudly that the queue
  is down, keeps its running jobs, waits (with backoff) and carries on once Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob, cron
from arq.worker import Function, Retry, Worker, func
from redis import exceptions as redis_errors

from shared.problems import ServiceUnavailable
from shared.settings import Settings

__all__ = ["EVENTS_JOB", "EVENT_JOB", "QUEUE_DOWN", "QueueWorker", "Retry", "add_counts", "connect", "counters_key",
           "enqueue", "event_function", "every", "hourly", "mark_failed", "queue_name", "redis_settings", "redis_url",
           "run_worker", "worker_settings"]

log = logging.getLogger("jingzhun.queue")

EVENT_JOB = "handle_event"   # every service's worker consumes events with this function
EVENTS_JOB = "handle_events"  # … and several at once (the relay's batches) with this one
# arq's own limit must never drop an event: the consumer counts its tries and dead-letters (shared.worker).
EVENT_MAX_TRIES = 1_000_000
LEASE_SECONDS = 6.0
RENEW_SECONDS = 1.0
DOWN_LOG_EVERY = 30.0        # while the queue stays down, say so again this often
# What an unreachable, restarting or loading Redis raises.
QUEUE_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError, OSError,
              asyncio.TimeoutError)

# Extends the leases that still exist, never shortens one (a finished cron job keeps its mark for a minute).
_RENEW = """
for _, key in ipairs(KEYS) do
  local ttl = redis.call('PTTL', key)
  if ttl >= 0 and ttl < tonumber(ARGV[1]) then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
"""


def redis_settings(url: str) -> RedisSettings:
    s = RedisSettings.from_dsn(url)
    s.conn_timeout = 2
    s.conn_retries = 1
    s.conn_retry_delay = 0
    return s


def redis_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise RuntimeError("JINGZHUN_REDIS_URL is not set (`jingzhun up` sets it for its children)")
    return settings.redis_url


def queue_name(settings: Settings, service: str) -> str:
    return f"{settings.queue_prefix}:{service}"


async def connect(settings: Settings) -> ArqRedis:
    return await create_pool(redis_settings(redis_url(settings)))


async def enqueue(pool: ArqRedis, *, queue: str, function: str, args: tuple[Any, ...] = (),
                  job_id: str | None = None) -> bool:
    """Enqueue a job; False when a job with this id is already queued or done (arq deduplicates)."""
    job = await pool.enqueue_job(function, *args, _job_id=job_id, _queue_name=queue)
    return job is not None


def event_function(coroutine: Any, name: str = EVENT_JOB) -> Any:
    """The worker's event consumer as an arq function: named :data:`EVENT_JOB` (or :data:`EVENTS_JOB`), retried as
    long as it asks."""
    return func(coroutine, name=name, max_tries=EVENT_MAX_TRIES)


# --- Counters for /metrics (shared.metrics reads them): kept in Redis, one hash per service, because jobs run in
# worker processes and /metrics is served by the HTTP ones. Best effort: a counter never fails or delays a job.
COUNTING_TIMEOUT = 1.0
_FAILED = "jingzhun_job_failed"


def counters_key(settings: Settings, service: str) -> str:
    return f"{settings.queue_prefix}:counters:{service}"


async def add_counts(redis: Any, key: str, deltas: Mapping[str, float]) -> None:
    """Add ``deltas`` to the counters in ``key`` (HINCRBYFLOAT, one round trip); gives up quietly when Redis is away."""
    if not (deltas := {k: v for k, v in deltas.items() if v}):
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for field, value in deltas.items():
                pipe.hincrbyfloat(key, field, float(value))
            await asyncio.wait_for(pipe.execute(), COUNTING_TIMEOUT)
    except (*QUEUE_DOWN, redis_errors.RedisError) as exc:
        log.debug("counters %s not updated (%s: %s)", key, type(exc).__name__, exc)


def mark_failed(ctx: dict[str, Any]) -> None:
    """For a job that handles its own failure and returns (an event kept as a dead letter): count it as failed."""
    ctx[_FAILED] = True


def _counted(coroutine: Any, name: str, key: str) -> Any:
    """``coroutine`` counting its runs in ``key``: ``job_run:<name>`` each time, and ``job_failed:<name>`` (raised,
    timed out or :func:`mark_failed`) or ``job_retried:<name>`` (asked to run again)."""

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        outcome = "failed"
        try:
            result = await coroutine(ctx, *args, **kwargs)
            outcome = "failed" if ctx.get(_FAILED) else "ok"
            return result
        except Retry:
            outcome = "retried"
            raise
        finally:
            if (redis := ctx.get("redis")) is not None:
                deltas = {f"job_run:{name}": 1}
                if outcome != "ok":
                    deltas[f"job_{outcome}:{name}"] = 1
                await add_counts(redis, key, deltas)

    return run


def _counting(job: Any, key: str) -> Any:
    if isinstance(job, CronJob):
        return dataclasses.replace(job, coroutine=_counted(job.coroutine, job.name, key))
    job = job if isinstance(job, Function) else func(job)
    return dataclasses.replace(job, coroutine=_counted(job.coroutine, job.name, key))


class _Console(logging.Filter):
    """arq says a line when each job starts and ends and every 60 s its health: with crons every second, a
    person at ``jingzhun up`` sees nothing else. Keep one line per finished job that is not a cron tick, and
    everything arq says above INFO (failures, retries, expiries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        if record.msg == "%6.2fs → %s(%s)%s" or record.msg == "recording health: %s":
            return False
        if record.msg == "%6.2fs ← %s ● %s":
            return not str(record.args[1]).startswith("cron:")
        return True


CONSOLE = _Console()
logging.getLogger("arq.worker").addFilter(CONSOLE)


def verbose_console() -> None:
    """Let every line arq says through (``jingzhun up --verbose``: cron ticks, job starts, health)."""
    logging.getLogger("arq.worker").removeFilter(CONSOLE)


class QueueWorker(Worker):
    """arq's worker with short, renewed job leases, and one that waits for Redis instead of exiting."""

    def __init__(self, *args: Any, lease_seconds: float = LEASE_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = lease_seconds
        self.lease_seconds = lease_seconds
        self.renew_every = min(RENEW_SECONDS, lease_seconds / 3)
        self._renewed_at = 0.0
        self.down_since: float | None = None
        self._down_logged_at = 0.0
        self._backoff = 0.25
        self.outages = 0

    # --- Redis away
    def _queue_down(self, exc: BaseException) -> float:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since, self._down_logged_at = now, now
            self.outages += 1
            log.error("THE JOB QUEUE IS DOWN: Redis for %s is unreachable (%s: %s). This worker keeps running and "
                      "reconnects; events wait in the outboxes meanwhile and writes are not affected.",
                      self.queue_name, type(exc).__name__, exc)
        elif now - self._down_logged_at >= DOWN_LOG_EVERY:
            self._down_logged_at = now
            log.error("THE JOB QUEUE IS STILL DOWN: Redis for %s unreachable for %.0f s (%s)", self.queue_name,
                      now - self.down_since, exc)
        delay, self._backoff = self._backoff, min(self._backoff * 2, 5.0)
        return delay

    def _queue_up(self) -> None:
        if self.down_since is not None:
            log.warning("the job queue is back: Redis for %s answers again after %.1f s", self.queue_name,
                        time.monotonic() - self.down_since)
            self.down_since = None
        self._backoff = 0.25

    async def main(self) -> None:
        while self._pool is None:
            try:
                self._pool = await create_pool(self.redis_settings, job_deserializer=self.job_deserializer,
                                               job_serializer=self.job_serializer,
                                               default_queue_name=self.queue_name,
                                               expires_extra_ms=self.expires_extra_ms)
            except QUEUE_DOWN as exc:
                await asyncio.sleep(self._queue_down(exc))
        self._queue_up()
        log.info("worker for %s started: %s", self.queue_name, ", ".join(self.functions))
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        while True:
            await self._poll_iteration()
            if self.burst:
                try:
                    if 0 <= self.max_burst_jobs <= self._jobs_started():
                        await asyncio.gather(*self.tasks.values())
                        return
                    if await self.pool.zcard(self.queue_name) == 0:
                        await asyncio.gather(*self.tasks.values())
                        return
                except QUEUE_DOWN as exc:
                    await asyncio.sleep(self._queue_down(exc))
            await asyncio.sleep(self.poll_delay_s)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except QUEUE_DOWN as exc:
            # a job that finished meanwhile could not record it: its lease lapses and it runs again, which
            # consumers take (they remember event ids)
            await asyncio.sleep(self._queue_down(exc))
        else:
            self._queue_up()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except QUEUE_DOWN:
            # arq took a slot for the job it was starting and gives it back only when the job ends
            self.job_counter -= 1
            self.sem.release()
            raise

    async def heart_beat(self) -> None:
        await self._renew_leases()
        await super().heart_beat()

    async def _renew_leases(self) -> None:
        now = time.monotonic()
        if now - self._renewed_at < self.renew_every:
            return
        self._renewed_at = now
        keys = [in_progress_key_prefix + job_id for job_id, task in self.tasks.items() if not task.done()]
        if keys:
            await self.pool.eval(_RENEW, len(keys), *keys, int(self.lease_seconds * 1000))

    async def close(self) -> None:
        """Stop: running jobs end (or are cancelled), then the shutdown hook, even with Redis away."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(*QUEUE_DOWN):
            await self.pool.delete(self.health_check_key)
        try:
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
        finally:
            with contextlib.suppress(*QUEUE_DOWN):
                await self.pool.aclose(close_connection_pool=True)
            self._pool = None


def run_worker(kwargs: dict[str, Any]) -> None:
    """Run a worker in the foreground until SIGTERM / SIGINT; a Redis outage never ends it."""
    async def serve() -> None:
        worker = QueueWorker(**kwargs)
        worker.main_task = asyncio.ensure_future(worker.main())
        try:
            await worker.main_task
        except asyncio.CancelledError:
            pass
        finally:
            await worker.close()

    asyncio.run(serve())


def every(function: Any, *, seconds: int, timeout: int = 300) -> CronJob:
    """A periodic job, run once per tick across all workers (arq's unique cron job ids)."""
    return cron(function, second=set(range(0, 60, seconds)), run_at_startup=True, max_tries=1, timeout=timeout)


PATIENCE = (2, 4, 8, 16, 32)     # seconds between tries: a worker started before the service it asks, or its restart


def _patient(function: Any) -> Any:
    """A periodic job whose upstream service is unreachable tries again after 2, 4 … 32 s, in the same run (arq
    keeps a cron tick's lock for 60 s, so a ``Retry`` would wait that long), then fails until its next tick. A
    worker that starts before the registry is the usual case."""

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        for delay in PATIENCE:
            try:
                return await function(ctx, *args, **kwargs)
            except ServiceUnavailable as exc:
                log.warning("%s: %s; trying again in %d s", function.__name__, exc.detail, delay)
            await asyncio.sleep(delay)
        return await function(ctx, *args, **kwargs)

    return run


def hourly(function: Any, *, minute: int = 0, timeout: int = 300) -> CronJob:
    """A job run at ``minute`` past every hour and when a worker starts, once per tick across all workers (for
    daily work that must not wait a day after a restart: the job itself keeps to once a day)."""
    return cron(_patient(function), minute={minute}, second={0}, run_at_startup=True, max_tries=1, timeout=timeout)


def worker_settings(settings: Settings, service: str, *, functions: list[Any], on_startup=None,
                    on_shutdown=None, cron_jobs=None) -> dict[str, Any]:
    """Keyword arguments for :class:`QueueWorker`: tuned for throughput (max_jobs=100, poll_delay=0.05). Every
    function and cron job counts its runs and failures for ``/metrics`` (:func:`counters_key`)."""
    key = counters_key(settings, service)
    return dict(
        functions=[_counting(f, key) for f in functions],
        queue_name=queue_name(settings, service),
        redis_settings=redis_settings(redis_url(settings)),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        cron_jobs=[_counting(c, key) for c in cron_jobs] if cron_jobs else cron_jobs,
        max_jobs=100,
        poll_delay=0.05,
        job_timeout=600,
        keep_result=3600,
        max_tries=10,
        retry_jobs=True,
        handle_signals=True,
    )


def daily(function: Any, *, hour: int, minute: int = 0, timeout: int = 600) -> CronJob:
    """A job once a day at ``hour:minute`` UTC (and when a worker starts, to catch up), once across all workers."""
    return cron(_patient(function), hour={hour}, minute={minute}, second={0}, run_at_startup=True,
                max_tries=1, timeout=timeout)
