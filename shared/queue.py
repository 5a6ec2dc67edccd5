"""The job queue (arq over Redis), behind one small module so it can be swapped."""

from __future__ import annotations

from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob, cron

from shared.settings import Settings

EVENT_JOB = "handle_event"   # every service's worker consumes events with this function


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


def run_worker(kwargs: dict[str, Any]) -> None:
    """Run an arq worker in the foreground until it is signalled."""
    from arq.worker import Worker
    Worker(**kwargs).run()


def every(function: Any, *, seconds: int, timeout: int = 300) -> CronJob:
    """A periodic job, run once per tick across all workers (arq's unique cron job ids)."""
    return cron(function, second=set(range(0, 60, seconds)), run_at_startup=True, max_tries=1, timeout=timeout)


def worker_settings(settings: Settings, service: str, *, functions: list[Any], on_startup=None,
                    on_shutdown=None, cron_jobs=None) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``: tuned for throughput (max_jobs=100, poll_delay=0.05)."""
    return dict(
        functions=functions,
        queue_name=queue_name(settings, service),
        redis_settings=redis_settings(redis_url(settings)),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        cron_jobs=cron_jobs,
        max_jobs=100,
        poll_delay=0.05,
        job_timeout=600,
        keep_result=3600,
        max_tries=10,
        retry_jobs=True,
        handle_signals=True,
    )
