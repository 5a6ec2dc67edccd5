"""Test helpers: a service's worker running in the test's event loop, and events put on its queue."""

from __future__ import annotations

import asyncio
import contextlib

from shared import queue


@contextlib.asynccontextmanager
async def worker_running(kwargs):
    """The service's worker (as `jingzhun worker` runs it) in this event loop, until the block ends."""
    worker = queue.QueueWorker(**{**kwargs, "handle_signals": False, "poll_delay": 0.01})
    worker.main_task = asyncio.create_task(worker.main())
    try:
        yield worker
    finally:
        await worker.close()
        with contextlib.suppress(asyncio.CancelledError):
            await worker.main_task


async def publish(settings, service: str, *events) -> None:
    """What the relay does with an outbox row: one job per event on the consumer's queue."""
    pool = await queue.connect(settings)
    try:
        for event in events:
            await queue.enqueue(pool, queue=queue.queue_name(settings, service), function=queue.EVENT_JOB,
                                args=(event,), job_id=f"{event['event_id']}:{service}")
    finally:
        await pool.aclose()
