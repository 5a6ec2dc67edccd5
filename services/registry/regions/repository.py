"""Every query on regions."""

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.regions.models import Region


async def get(session: AsyncSession, code: str) -> Region | None:
    return await session.get(Region, code)


async def add(session: AsyncSession, region: Region) -> Region:
    session.add(region)
    await session.flush()
    return region


async def children(session: AsyncSession, code: str) -> list[Region]:
    """The regions one level below ``code``, by code."""
    rows = await session.exec(select(Region).where(Region.parent_code == code).order_by(Region.code))
    return list(rows.all())
