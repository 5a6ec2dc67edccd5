"""The arq worker every service runs: consumes events once, relays its outbox, runs its jobs.

A consumer that fails is retried (:class:`RetryPolicy`: exponential backoff, a limit of tries); after the last try
the event is written to the service's ``dead_letters`` (``shared.dead_letters``), where an officer sees it and can
replay it. While even that write fails (the database is away) the event is retried again, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import audit, dead_letters, queue
from shared.db import Database
from shared.http import ServiceClient
from shared.jwt import KeyPair, Signer
from shared.outbox import Relay, consume_once
from shared.settings import Settings, get_settings

log = logging.getLogger("jingzhun.worker")

# handler(session, event, ctx): runs in the transaction that also marks the event consumed.
EventHandler = Callable[[AsyncSession, dict[str, Any], dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """``tries`` runs of a failing consumer, ``first`` s after the first failure, doubling up to ``longest``."""

    tries: int = 8
    first: float = 1.0
    longest: float = 60.0

    def delay(self, job_try: int) -> float:
        return min(self.longest, self.first * 2 ** max(0, job_try - 1))


DEFAULT_RETRY = RetryPolicy()      # 1, 2, 4 … 60 s: about two minutes of failures before a dead letter


async def dispatch(ctx: dict[str, Any], event: dict[str, Any], handlers: Mapping[str, EventHandler],
                   retry: RetryPolicy | None = None) -> bool:
    """Apply an event at most once; returns False for a duplicate, an unknown topic or a dead letter.

    A handler that raises is run again (``queue.Retry``) until ``retry.tries`` runs failed; then the event becomes
    a dead letter. Either way nothing is lost: the event is applied once or kept where an officer sees it."""
    retry = retry or DEFAULT_RETRY
    handler = handlers.get(event.get("topic", ""))
    if handler is None:
        log.warning("no handler for topic %r", event.get("topic"))
        return False
    db: Database = ctx["db"]
    try:
        async with db.sessionmaker() as session:
            if not await consume_once(session, event):
                if dead_letters.REPLAY in event:
                    await dead_letters.resolved(session, event)
                    await session.commit()
                return False
            await handler(session, event, ctx)
            if dead_letters.REPLAY in event:
                await dead_letters.resolved(session, event)
            await session.commit()
            await audit.sealed(session)
            return True
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return await _failed(ctx, event, exc, retry)


async def dispatch_many(ctx: dict[str, Any], events: Sequence[dict[str, Any]], handlers: Mapping[str, EventHandler],
                        retry: RetryPolicy | None = None) -> int:
    """Apply a run of events in one transaction (one commit for them all); returns how many were applied.

    If any handler raises, or the commit fails, nothing of the run is kept and each event goes through
    :func:`dispatch` on its own, in order, with its own retries and dead letter: the run costs one commit when
    all goes well and behaves as single events when something does not."""
    db: Database = ctx["db"]
    try:
        async with db.sessionmaker() as session:
            applied = 0
            for event in events:
                handler = handlers.get(event.get("topic", ""))
                if handler is None or dead_letters.REPLAY in event:
                    raise _Alone()
                if await consume_once(session, event):
                    await handler(session, event, ctx)
                    applied += 1
            await session.commit()
            await audit.sealed(session)
            return applied
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - each event again, alone
        if not isinstance(exc, _Alone):
            log.info("a run of %d events failed together (%s: %s); applying them one by one", len(events),
                     type(exc).__name__, exc)
    applied = 0
    for event in events:
        applied += await dispatch(ctx, event, handlers, retry)
    return applied


class _Alone(Exception):
    """An event of the run must go through :func:`dispatch` alone (an unknown topic, a replay)."""


async def _failed(ctx: dict[str, Any], event: dict[str, Any], exc: Exception, retry: RetryPolicy) -> bool:
    job_try = int(ctx.get("job_try") or 1)
    where = f"event {event.get('event_id')} ({event.get('topic')}) try {job_try}/{retry.tries}"
    if job_try < retry.tries:
        delay = retry.delay(job_try)
        log.warning("%s failed (%s: %s); retrying in %.1f s", where, type(exc).__name__, exc, delay)
        raise queue.Retry(defer=delay) from exc
    log.error("%s failed (%s: %s); keeping it as a dead letter", where, type(exc).__name__, exc, exc_info=exc)
    try:
        await dead_letters.record(ctx["db"], event, error=exc, tries=job_try)
    except Exception as again:  # noqa: BLE001 - the database is away too: never drop the event
        log.error("%s: the dead letter could not be written either (%s: %s); retrying in %.0f s", where,
                  type(again).__name__, again, retry.longest)
        raise queue.Retry(defer=retry.longest) from again
    queue.mark_failed(ctx)            # /metrics: the job ended, and it failed
    return False


def worker_settings(service: str, *, handlers: Mapping[str, EventHandler] | None = None,
                    functions: Sequence[Callable[..., Any]] = (), periodic: Sequence[Any] = (),
                    settings: Settings | None = None, relay: bool = True,
                    retry: RetryPolicy | None = None) -> dict[str, Any]:
    """arq Worker arguments for ``service``; ``periodic`` takes :func:`shared.queue.every` jobs."""
    settings = settings or get_settings()
    handlers = dict(handlers or {})

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["db"] = Database(settings, service)
        ctx["http"] = httpx.AsyncClient()
        ctx["services"] = ServiceClient(settings=settings, client=ctx["http"], service=service,
                                        signer=Signer(KeyPair.for_settings(settings),
                                                      issuer=settings.jwt_issuer, audience=settings.jwt_audience))
        if relay:
            ctx["relay"] = asyncio.create_task(
                Relay(settings=settings, service=service, sessionmaker=ctx["db"].sessionmaker).run())
        ctx["audit_sweep"] = asyncio.create_task(audit.sweep_forever(ctx["db"].engine))

    async def shutdown(ctx: dict[str, Any]) -> None:
        for name in ("relay", "audit_sweep"):
            if task := ctx.get(name):
                task.cancel()
        await ctx["http"].aclose()
        await ctx["db"].close()

    async def handle_event(ctx: dict[str, Any], event: dict[str, Any]) -> bool:
        return await dispatch(ctx, event, handlers, retry)

    async def handle_events(ctx: dict[str, Any], events: list[dict[str, Any]]) -> int:
        return await dispatch_many(ctx, events, handlers, retry)

    return queue.worker_settings(settings, service, functions=[
        queue.event_function(handle_event), queue.event_function(handle_events, queue.EVENTS_JOB), *functions],
                                 on_startup=startup, on_shutdown=shutdown, cron_jobs=list(periodic) or None)
