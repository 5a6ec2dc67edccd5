"""Every query on notices, their items and objections. The public reads every notice; a caller reads those of
its subtree (:func:`readable`): any other is simply not found."""

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import func, text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.funds.notices.models import Notice, NoticeItem, Objection
from shared import regions, scoping
from shared.auth import Principal
from shared.db import driver


def readable(principal: Principal | None) -> SelectOfScalar[Notice]:
    """The notices of the caller's subtree; every notice for the public (``None``)."""
    q = select(Notice)
    return q if principal is None else q.where(scoping.subtree(Notice.region_code, principal))


async def get(session: AsyncSession, notice_id: int, *, lock: str | None = None, principal: Principal | None = None
              ) -> Notice | None:
    """``lock``: ``"update"`` (close, withdraw) or ``"share"`` (objections, which may run side by side);
    ``principal``: only a notice it may read."""
    q = readable(principal).where(Notice.id == notice_id)
    if lock == "update":
        q = q.with_for_update()
    elif lock == "share":
        q = q.with_for_update(read=True)
    return (await session.exec(q)).first()


async def open_for(session: AsyncSession, *, requester: str, requester_ref: str) -> Notice | None:
    q = select(Notice).where(Notice.requester == requester, Notice.requester_ref == requester_ref,
                             Notice.status == "open")
    return (await session.exec(q)).first()


async def list_(session: AsyncSession, *, region: str | None, status: str | None, kind: str | None = None,
                before_id: int | None, limit: int) -> list[Notice]:
    """Newest first, without the items; ``limit + 1`` rows so the caller knows whether a next page exists."""
    q = select(Notice).order_by(Notice.id.desc()).limit(limit + 1)
    if region:
        q = q.where(Notice.region_code.startswith(regions.prefix(region)))
    if status:
        q = q.where(Notice.status == status)
    if kind:
        q = q.where(Notice.kind == kind)
    if before_id is not None:
        q = q.where(Notice.id < before_id)
    return list((await session.exec(q)).all())


async def objection_counts(session: AsyncSession, notice_id: int) -> dict[str, int]:
    q = select(Objection.status, func.count()).where(Objection.notice_id == notice_id).group_by(Objection.status)
    return {status: n for status, n in (await session.exec(q)).all()}


async def get_objection(session: AsyncSession, objection_id: int, *, lock: bool = False) -> Objection | None:
    q = select(Objection).where(Objection.id == objection_id)
    if lock:
        q = q.with_for_update()
    return (await session.exec(q)).first()


async def list_objections(session: AsyncSession, *, notice_id: int, status: str | None, after_id: int,
                          limit: int) -> list[Objection]:
    q = (select(Objection).where(Objection.notice_id == notice_id, Objection.id > after_id)
         .order_by(Objection.id).limit(limit + 1))
    if status:
        q = q.where(Objection.status == status)
    return list((await session.exec(q)).all())


# --- items -------------------------------------------------------------------------------------------------

async def add_items(session: AsyncSession, notice_id: int, items: Sequence[dict[str, Any]]) -> None:
    """The notice's items in order (``seq`` from 1), by one COPY in the session's transaction."""
    dumps = orjson.dumps
    await (await driver(session)).copy_records_to_table(
        "notice_item", columns=("notice_id", "seq", "ref", "item"),
        records=[(notice_id, seq, item["ref"], dumps(item).decode()) for seq, item in enumerate(items, 1)])


async def items_page(session: AsyncSession, notice_id: int, *, after_seq: int, limit: int
                     ) -> list[tuple[int, dict[str, Any]]]:
    """``limit + 1`` items after ``after_seq`` as (seq, item)."""
    q = (select(NoticeItem.seq, NoticeItem.item).where(NoticeItem.notice_id == notice_id, NoticeItem.seq > after_seq)
         .order_by(NoticeItem.seq).limit(limit + 1))
    return [(seq, item) for seq, item in (await session.exec(q)).all()]


async def all_items(session: AsyncSession, notice_id: int) -> list[dict[str, Any]]:
    q = select(NoticeItem.item).where(NoticeItem.notice_id == notice_id).order_by(NoticeItem.seq)
    return list((await session.exec(q)).all())


async def refs(session: AsyncSession, notice_id: int, *, among: Sequence[str] | None = None) -> list[str]:
    """The notice's item refs in order; only those in ``among`` when given."""
    if among is None:
        q = select(NoticeItem.ref).where(NoticeItem.notice_id == notice_id).order_by(NoticeItem.seq)
        return list((await session.exec(q)).all())
    return list((await session.execute(text(
        "SELECT ref FROM notice_item WHERE notice_id = :n AND ref = ANY(CAST(:refs AS text[])) ORDER BY seq"),
        {"n": notice_id, "refs": list(among)})).scalars().all())


async def struck_by_upheld(session: AsyncSession, notice_id: int) -> list[str]:
    """Refs an upheld objection named, in the notice's order."""
    return list((await session.execute(text("""
        SELECT i.ref FROM notice_item i
        WHERE i.notice_id = :n AND i.ref IN (
            SELECT jsonb_array_elements_text(o.item_refs) FROM notice_objection o
            WHERE o.notice_id = :n AND o.status = 'upheld' AND o.item_refs IS NOT NULL)
        ORDER BY i.seq"""), {"n": notice_id})).scalars().all())


async def upheld_objections(session: AsyncSession, notice_id: int) -> list[dict[str, Any]]:
    """A notice's upheld objections, oldest first, without who raised them."""
    rows = (await session.execute(text(
        "SELECT id, content, reply, item_refs, resolved_at FROM notice_objection "
        "WHERE notice_id = :n AND status = 'upheld' ORDER BY id"), {"n": notice_id})).mappings().all()
    return [{**r, "resolved_at": r["resolved_at"].isoformat() if r["resolved_at"] else None} for r in rows]
