"""Every query on allocations and their 调项. A caller reads allocations through :func:`readable` (its subtree
and the regions above it: a township sees the county's allocations) and changes them through :func:`writable`
(its subtree); a row outside is simply not found."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations.models import Adjustment, Allocation
from shared import regions, scoping
from shared.auth import Principal

allocation_t, adjustment_t = Allocation.__table__, Adjustment.__table__


def readable(principal: Principal) -> Select:
    return select(Allocation).where(scoping.subtree_or_above(Allocation.region_code, principal))


def writable(principal: Principal) -> Select:
    return select(Allocation).where(scoping.subtree(Allocation.region_code, principal))


async def one(session: AsyncSession, statement: Select, allocation_id: int, *, lock: bool = False
              ) -> Allocation | None:
    q = statement.where(Allocation.id == allocation_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).scalars().first()


async def page_of(session: AsyncSession, principal: Principal, *, region: str | None, below: bool,
                  purpose: str | None, year: int | None, after: int | None, limit: int) -> list[Allocation]:
    """The caller's readable allocations of ``region``'s subtree (``below``) or of ``region`` itself, or all of
    them (``region`` None), in id order."""
    q = readable(principal)
    if region is not None:
        q = q.where(Allocation.region_code.startswith(regions.prefix(region)) if below
                    else Allocation.region_code == region)
    if purpose is not None:
        q = q.where(Allocation.purpose == purpose)
    if year is not None:
        q = q.where(Allocation.year == year)
    if after is not None:
        q = q.where(Allocation.id > after)
    return list((await session.execute(q.order_by(Allocation.id).limit(limit))).scalars().all())


# --- 调项 ---------------------------------------------------------------------------------------------------

async def add_adjustment(session: AsyncSession, **values: Any) -> Mapping[str, Any]:
    return (await session.execute(adjustment_t.insert().values(**values).returning(*adjustment_t.c))).mappings().one()


async def adjustment(session: AsyncSession, adjustment_id: int, *, lock: bool = False) -> Mapping[str, Any] | None:
    q = select(adjustment_t).where(adjustment_t.c.id == adjustment_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).mappings().first()


async def decide(session: AsyncSession, adjustment_id: int, *, by: str, **values: Any) -> Mapping[str, Any]:
    return (await session.execute(update(adjustment_t).where(adjustment_t.c.id == adjustment_id).values(
        decided_by=by, decided_at=datetime.now(UTC), version=adjustment_t.c.version + 1, **values
    ).returning(*adjustment_t.c))).mappings().one()


async def adjustments_page(session: AsyncSession, principal: Principal, *, status: str | None, after: int | None,
                           limit: int) -> list[Mapping[str, Any]]:
    """The 调项 of allocations in the caller's subtree, each with its allocation's purpose, in id order."""
    q = (select(adjustment_t, allocation_t.c.purpose.label("from_purpose"), allocation_t.c.region_code)
         .join(allocation_t, allocation_t.c.id == adjustment_t.c.allocation_id)
         .where(scoping.subtree(allocation_t.c.region_code, principal)))
    if status is not None:
        q = q.where(adjustment_t.c.status == status)
    if after is not None:
        q = q.where(adjustment_t.c.id > after)
    return list((await session.execute(q.order_by(adjustment_t.c.id).limit(limit))).mappings().all())
