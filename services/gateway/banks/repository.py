"""Every query on bank clients; what a caller may list is scoped once here (``shared.scoping``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway.banks.models import BankClient
from shared.auth import Principal
from shared.scoping import subtree


async def add(session: AsyncSession, client: BankClient) -> BankClient:
    """Insert ``client`` (flushed, with its generated columns loaded)."""
    session.add(client)
    await session.flush()
    await session.refresh(client)
    return client


async def by_client_id(session: AsyncSession, client_id: str) -> BankClient | None:
    return await session.scalar(select(BankClient).where(BankClient.client_id == client_id))


async def readable(session: AsyncSession, *, principal: Principal, after: int, limit: int) -> list[BankClient]:
    """The clients whose region lies in the caller's (a service: all), ids above ``after``, oldest first."""
    stmt = (select(BankClient).where(subtree(BankClient.region_code, principal), BankClient.id > after)
            .order_by(BankClient.id).limit(limit))
    return list((await session.execute(stmt)).scalars().all())
