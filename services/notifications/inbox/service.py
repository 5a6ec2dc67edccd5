"""The app inbox: messages for one user, read by that user only."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.inbox.models import InboxMessage
from services.notifications.inbox.schemas import InboxMessageRead
from shared import audit
from shared.auth import Principal
from shared.pagination import decode_cursor, page
from shared.problems import NotFound


table = InboxMessage.__table__


def to_read(m: InboxMessage) -> InboxMessageRead:
    return InboxMessageRead(id=m.id, kind=m.kind, title=m.title, body=m.body, created_at=m.created_at,
                            read_at=m.read_at)


async def deliver(*, session: AsyncSession, user_id: str, kind: str, title: str, body: str,
                  event: dict[str, Any] | None = None, dedupe_key: str | None = None) -> int | None:
    """Put a message in ``user_id``'s inbox; returns its id, or None when this event (or, with ``dedupe_key``,
    this fact under any event id) already gave them one."""
    inserted = (await session.execute(
        pg_insert(table).values(user_id=user_id, kind=kind, title=title, body=body, dedupe_key=dedupe_key,
                                event_id=uuid.UUID(str(event["event_id"])) if event else None)
        .on_conflict_do_nothing().returning(table.c.id))).scalar_one_or_none()
    if inserted is not None:
        await audit.record(session, actor=f"event:{event['source']}" if event else "system", action="inbox.deliver",
                           entity="inbox_message", entity_id=inserted,
                           diff={"user_id": user_id, "kind": kind, "event_id": event and event["event_id"]})
    return inserted


async def list_mine(*, session: AsyncSession, principal: Principal, unread: bool, limit: int,
                    cursor: str | None) -> tuple[list[InboxMessage], str | None]:
    q = select(InboxMessage).where(InboxMessage.user_id == principal.sub).order_by(InboxMessage.id.desc()) \
        .limit(limit + 1)
    if unread:
        q = q.where(InboxMessage.read_at.is_(None))
    if (key := decode_cursor(cursor, id=int)) is not None:
        q = q.where(InboxMessage.id < key["id"])
    return page(list((await session.exec(q)).all()), limit, lambda m: {"id": m.id})


async def unread_count(*, session: AsyncSession, principal: Principal) -> int:
    """From the partial index on unread messages (``ix_inbox_message_unread``): an index-only count."""
    return (await session.execute(select(func.count()).select_from(table).where(
        table.c.user_id == principal.sub, table.c.read_at.is_(None)))).scalar_one()


async def mark_read(*, session: AsyncSession, principal: Principal, message_id: int) -> InboxMessage:
    message = await session.get(InboxMessage, message_id, with_for_update=True)
    if message is None or message.user_id != principal.sub:
        raise NotFound("No such message")
    if message.read_at is None:
        message.read_at = datetime.now(UTC)
        await session.flush()
        await audit.record(session, actor=principal.sub, action="inbox.read", entity="inbox_message",
                           entity_id=message.id)
    return message
