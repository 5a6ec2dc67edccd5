"""Every query on pending events (events kept for a retry while a service they need is away)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.pending.models import PendingEvent

table = PendingEvent.__table__


def after_seconds(seconds: float) -> Any:
    """``now()`` plus ``seconds``, in the database's clock."""
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds)


async def insert(session: AsyncSession, *, event_id: uuid.UUID, topic: str, source: str, payload: dict[str, Any],
                 error: str, delay: float) -> int | None:
    """The new row's id (a first attempt failed), or None when the event is already kept."""
    return (await session.execute(
        pg_insert(table).values(event_id=event_id, topic=topic, source=source, payload=payload, status="waiting",
                                attempts=1, last_error=error, next_attempt_at=after_seconds(delay))
        .on_conflict_do_nothing(index_elements=["event_id"]).returning(table.c.id))).scalar_one_or_none()


async def due(session: AsyncSession, *, limit: int) -> Sequence[Row]:
    """Waiting events whose next attempt is due, soonest first, locked (others' locked rows skipped)."""
    return (await session.execute(text(
        "SELECT id, event_id, topic, source, payload, attempts FROM pending_event "
        "WHERE status = 'waiting' AND next_attempt_at <= now() ORDER BY next_attempt_at "
        "LIMIT :n FOR UPDATE SKIP LOCKED"), {"n": limit})).all()


async def delete(session: AsyncSession, row_id: int) -> None:
    await session.execute(table.delete().where(table.c.id == row_id))


async def update(session: AsyncSession, row_id: int, values: dict[str, Any]) -> None:
    await session.execute(table.update().where(table.c.id == row_id).values(**values))
