"""Every query on fund sources. A caller reads the sources of its subtree and of the regions above it (a county's
allocations are made from the province's money): any other is simply not found."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.funds.sources.models import FundSource
from shared import scoping
from shared.auth import Principal


def readable(principal: Principal) -> SelectOfScalar[FundSource]:
    return select(FundSource).where(scoping.subtree_or_above(FundSource.region_code, principal))


async def one(session: AsyncSession, principal: Principal, source_id: int) -> FundSource | None:
    return (await session.exec(readable(principal).where(FundSource.id == source_id))).first()


async def page_of(session: AsyncSession, principal: Principal, *, year: int | None, after: int | None, limit: int
                  ) -> list[FundSource]:
    q = readable(principal)
    if year is not None:
        q = q.where(FundSource.year == year)
    if after is not None:
        q = q.where(FundSource.id > after)
    return list((await session.exec(q.order_by(FundSource.id).limit(limit))).all())
