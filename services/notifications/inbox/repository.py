"""Every query on inbox messages; a caller reads only their own, scoped once here."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.inbox.models import InboxMessage
from shared.auth import Principal

table = InboxMessage.__table__


def _mine(principal: Principal) -> ColumnElement[bool]:
    return InboxMessage.user_id == principal.sub


async def insert(session: AsyncSession, *, user_id: str, kind: str, title: str, body: str,
                 event_id: uuid.UUID | None, dedupe_key: str | None) -> int | None:
    """The new message's id, or None when the event (or the dedupe key) already gave this user one."""
    return (await session.execute(
        pg_insert(table).values(user_id=user_id, kind=kind, title=title, body=body, dedupe_key=dedupe_key,
                                event_id=event_id)
        .on_conflict_do_nothing().returning(table.c.id))).scalar_one_or_none()


async def mine(session: AsyncSession, *, principal: Principal, unread: bool, before: int | None, limit: int
               ) -> list[InboxMessage]:
    """The caller's messages, newest first, ids below ``before``."""
    q = select(InboxMessage).where(_mine(principal)).order_by(InboxMessage.id.desc()).limit(limit)
    if unread:
        q = q.where(InboxMessage.read_at.is_(None))
    if before is not None:
        q = q.where(InboxMessage.id < before)
    return list((await session.exec(q)).all())


async def unread_count(session: AsyncSession, *, principal: Principal) -> int:
    """From the partial index on unread messages (``ix_inbox_message_unread``): an index-only count."""
    return (await session.execute(select(func.count()).select_from(table).where(
        table.c.user_id == principal.sub, table.c.read_at.is_(None)))).scalar_one()


async def mine_for_update(session: AsyncSession, *, principal: Principal, message_id: int) -> InboxMessage | None:
    return (await session.exec(select(InboxMessage).where(InboxMessage.id == message_id, _mine(principal))
                               .with_for_update())).first()


async def save(session: AsyncSession) -> None:
    await session.flush()
