"""Every query on notices and objections."""

from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funds.notices.models import Notice, Objection
from shared import regions


async def get(session: AsyncSession, notice_id: int, *, lock: str | None = None) -> Notice | None:
    """``lock``: ``"update"`` (close, withdraw) or ``"share"`` (objections, which may run side by side)."""
    q = select(Notice).where(Notice.id == notice_id)
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
    q = select(Notice).options(defer(Notice.items, raiseload=True)).order_by(Notice.id.desc()).limit(limit + 1)
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


async def upheld_refs(session: AsyncSession, notice_id: int) -> set[str]:
    q = select(Objection.item_refs).where(Objection.notice_id == notice_id, Objection.status == "upheld")
    return {ref for refs in (await session.exec(q)).all() for ref in (refs or [])}
