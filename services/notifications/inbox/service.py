"""The app inbox: messages for one user, read by that user only."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.inbox import repository
from services.notifications.inbox.models import InboxMessage
from services.notifications.inbox.schemas import InboxMessageRead
from shared import audit
from shared.auth import Principal
from shared.pagination import decode_cursor, page
from shared.problems import NotFound


def to_read(m: InboxMessage) -> InboxMessageRead:
    return InboxMessageRead(id=m.id, kind=m.kind, title=m.title, body=m.body, created_at=m.created_at,
                            read_at=m.read_at)


async def deliver(*, session: AsyncSession, user_id: str, kind: str, title: str, body: str,
                  event: dict[str, Any] | None = None, dedupe_key: str | None = None) -> int | None:
    """Put a message in ``user_id``'s inbox; returns its id, or None when this event (or, with ``dedupe_key``,
    this fact under any event id) already gave them one."""
    inserted = await repository.insert(session, user_id=user_id, kind=kind, title=title, body=body,
                                       event_id=uuid.UUID(str(event["event_id"])) if event else None,
                                       dedupe_key=dedupe_key)
    if inserted is not None:
        await audit.record(session, actor=f"event:{event['source']}" if event else "system", action="inbox.deliver",
                           entity="inbox_message", entity_id=inserted,
                           diff={"user_id": user_id, "kind": kind, "event_id": event and event["event_id"]})
    return inserted


async def list_mine(*, session: AsyncSession, principal: Principal, unread: bool, limit: int,
                    cursor: str | None) -> tuple[list[InboxMessage], str | None]:
    key = decode_cursor(cursor, id=int)
    rows = await repository.mine(session, principal=principal, unread=unread, before=key and key["id"],
                                 limit=limit + 1)
    return page(rows, limit, lambda m: {"id": m.id})


async def unread_count(*, session: AsyncSession, principal: Principal) -> int:
    return await repository.unread_count(session, principal=principal)


async def mark_read(*, session: AsyncSession, principal: Principal, message_id: int) -> InboxMessage:
    message = await repository.mine_for_update(session, principal=principal, message_id=message_id)
    if message is None:
        raise NotFound("No such message")
    if message.read_at is None:
        message.read_at = datetime.now(UTC)
        await repository.save(session)
        await audit.record(session, actor=principal.sub, action="inbox.read", entity="inbox_message",
                           entity_id=message.id)
    return message
