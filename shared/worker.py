"""The arq worker every service runs: consumes events once, relays its outbox, runs its jobs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import queue
from shared.db import Database
from shared.http import ServiceClient
from shared.jwt import KeyPair, Signer
from shared.outbox import Relay, consume_once
from shared.settings import Settings, get_settings

log = logging.getLogger("jingzhun.worker")

# handler(session, event, ctx): runs in the transaction that also marks the event consumed.
EventHandler = Callable[[AsyncSession, dict[str, Any], dict[str, Any]], Awaitable[None]]


async def dispatch(ctx: dict[str, Any], event: dict[str, Any], handlers: Mapping[str, EventHandler]) -> bool:
    """Apply an event at most once; returns False for a duplicate or an unknown topic."""
    handler = handlers.get(event.get("topic", ""))
    if handler is None:
        log.warning("no handler for topic %r", event.get("topic"))
        return False
    db: Database = ctx["db"]
    async with db.sessionmaker() as session:
        if not await consume_once(session, event):
            return False
        await handler(session, event, ctx)
        await session.commit()
        return True


def worker_settings(service: str, *, handlers: Mapping[str, EventHandler] | None = None,
                    functions: Sequence[Callable[..., Any]] = (), periodic: Sequence[Any] = (),
                    settings: Settings | None = None, relay: bool = True) -> dict[str, Any]:
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

    async def shutdown(ctx: dict[str, Any]) -> None:
        if task := ctx.get("relay"):
            task.cancel()
        await ctx["http"].aclose()
        await ctx["db"].close()

    async def handle_event(ctx: dict[str, Any], event: dict[str, Any]) -> bool:
        return await dispatch(ctx, event, handlers)

    handle_event.__qualname__ = queue.EVENT_JOB
    return queue.worker_settings(settings, service, functions=[handle_event, *functions],
                                 on_startup=startup, on_shutdown=shutdown, cron_jobs=list(periodic) or None)
