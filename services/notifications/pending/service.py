"""Events whose messages need another service: handled now when it answers, else kept and retried.

arq does not retry a job that raised, so a handler must never fail just because the gateway is away:
``deferrable`` turns such a failure into a ``pending_event`` row written in the event's own transaction,
and the worker's cron (``resume_due``) runs the handler again with backoff until it succeeds.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import locks
from services.notifications.pending import repository
from shared import audit
from shared.http import UpstreamProblem
from shared.problems import Problem, ServiceUnavailable

log = logging.getLogger("jingzhun.notifications.pending")

Handler = Callable[[AsyncSession, dict[str, Any], dict[str, Any]], Awaitable[None]]
DELAYS = (5, 15, 60, 300, 900, 1800, 3600)     # then every hour
MAX_ATTEMPTS = 48                              # about two days of retrying, then ``failed`` (and logged)
ACTOR = "system:pending-events"


class TryLater(Exception):
    """Raised by a handler when a service it needs is away."""


def transient(exc: Exception) -> bool:
    """A failure worth retrying: unreachable, 5xx, or the gateway refusing our token or rate-limiting us."""
    if isinstance(exc, (ServiceUnavailable, TryLater)):
        return True
    return isinstance(exc, UpstreamProblem) and exc.status in (401, 403, 408, 429)


def delay_after(attempt: int) -> float:
    return float(DELAYS[min(attempt, len(DELAYS)) - 1]) if attempt >= 1 else 0.0


def deferrable(handler: Handler) -> Handler:
    """The event handler that runs ``handler`` and, when a service it needs is away, keeps the event."""

    async def run(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
        try:
            async with session.begin_nested():
                await handler(session, event, ctx)
        except Exception as exc:   # noqa: BLE001 — an unexpected failure is kept and retried too, never lost
            if isinstance(exc, Problem) and not transient(exc):
                log.error("dropping %s event %s: %s", event.get("topic"), event.get("event_id"), exc)
                return
            if not isinstance(exc, Problem | TryLater):
                log.exception("%s event %s failed; kept for a retry", event.get("topic"), event.get("event_id"))
            await defer(session, event=event, error=str(exc) or type(exc).__name__)

    run.__name__ = run.__qualname__ = handler.__name__
    run.__wrapped__ = handler     # type: ignore[attr-defined]
    return run


async def defer(session: AsyncSession, *, event: dict[str, Any], error: str) -> None:
    inserted = await repository.insert(session, event_id=uuid.UUID(str(event["event_id"])), topic=event["topic"],
                                       source=str(event.get("source", "")), payload=event.get("payload") or {},
                                       error=error[:500], delay=delay_after(1))
    if inserted is not None:
        await audit.record(session, actor=f"event:{event.get('source', '')}", action="event.defer",
                           entity="pending_event", entity_id=inserted,
                           diff={"topic": event["topic"], "event_id": str(event["event_id"]), "error": error[:500]})
        log.warning("%s event %s waits: %s", event["topic"], event["event_id"], error)


def _event(row) -> dict[str, Any]:
    return {"event_id": str(row.event_id), "topic": row.topic, "source": row.source, "payload": row.payload}


async def resume_due(*, sessionmaker: async_sessionmaker, handlers: dict[str, Handler], ctx: dict[str, Any],
                     limit: int = 20) -> int | None:
    """Run the handlers of due pending events again; returns how many completed, or None (at once) while
    another run holds the ``PENDING_EVENTS`` lock (runs must not pile up while the gateway is slow)."""
    async with locks.exclusive(ctx["settings"], locks.PENDING_EVENTS) as lock:
        if lock is None:
            return None
        return await _resume(sessionmaker=sessionmaker, handlers=handlers, ctx=ctx, limit=limit)


async def _resume(*, sessionmaker: async_sessionmaker, handlers: dict[str, Handler], ctx: dict[str, Any],
                  limit: int) -> int:
    done, away = 0, False
    while True:
        async with sessionmaker() as session:
            rows = await repository.due(session, limit=limit)
            if not rows:
                return done
            for row in rows:
                handler = handlers.get(row.topic)
                handler = getattr(handler, "__wrapped__", handler)
                error: str | None = None
                try:
                    if handler is None:
                        raise LookupError(f"no handler for {row.topic}")
                    async with session.begin_nested():
                        await handler(session, _event(row), ctx)
                except Exception as exc:   # noqa: BLE001 — kept and retried (or given up on) below
                    if (isinstance(exc, Problem) and not transient(exc)) or isinstance(exc, LookupError):
                        error = f"permanent: {exc}"
                    else:
                        error = str(exc) or type(exc).__name__
                await _after(session, row, error)
                done += error is None
                if error is not None and not error.startswith("permanent: "):
                    away = True          # the service is still away: leave the rest for the next run
                    break
            await session.commit()
        if away or len(rows) < limit:
            return done


async def _after(session: AsyncSession, row, error: str | None) -> None:
    if error is None:
        await repository.delete(session, row.id)
        await audit.record(session, actor=ACTOR, action="event.resume", entity="pending_event", entity_id=row.id,
                           diff={"topic": row.topic, "event_id": str(row.event_id), "attempts": row.attempts + 1})
        log.info("%s event %s handled after %d attempts", row.topic, row.event_id, row.attempts + 1)
        return
    attempt = row.attempts + 1
    give_up = attempt >= MAX_ATTEMPTS or error.startswith("permanent: ")
    values: dict[str, Any] = {"attempts": attempt, "last_error": error[:500]}
    if give_up:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = repository.after_seconds(delay_after(attempt))
    await repository.update(session, row.id, values)
    await audit.record(session, actor=ACTOR, action="event.failed" if give_up else "event.retry",
                       entity="pending_event", entity_id=row.id,
                       diff={"topic": row.topic, "attempt": attempt, "error": error[:500]})
    (log.error if give_up else log.warning)("%s event %s attempt %d: %s", row.topic, row.event_id, attempt, error)
