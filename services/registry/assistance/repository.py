"""Queries for incomes, assurances, measures and visits."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.assistance.models import Assurance, Income, Measure, Visit

income_t, assurance_t, measure_t, visit_t = (Income.__table__, Assurance.__table__, Measure.__table__,
                                              Visit.__table__)


async def upsert(session: AsyncSession, table, values: dict[str, Any]) -> Mapping[str, Any]:
    keys = {"household_id", "year"}
    stmt = pg_insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.household_id, table.c.year],
                                      set_={k: stmt.excluded[k] for k in values if k not in keys})
    return (await session.execute(stmt.returning(*table.c))).mappings().one()


async def income(session: AsyncSession, *, household_id: int, year: int) -> Mapping[str, Any] | None:
    return (await session.execute(select(income_t).where(income_t.c.household_id == household_id,
                                                         income_t.c.year == year))).mappings().first()


async def assurance(session: AsyncSession, *, household_id: int, year: int) -> Mapping[str, Any] | None:
    return (await session.execute(select(assurance_t).where(assurance_t.c.household_id == household_id,
                                                            assurance_t.c.year == year))).mappings().first()


async def insert_measure(session: AsyncSession, values: dict[str, Any]) -> Mapping[str, Any]:
    return (await session.execute(measure_t.insert().values(**values).returning(*measure_t.c))).mappings().one()


async def insert_visit(session: AsyncSession, values: dict[str, Any]) -> Mapping[str, Any] | None:
    """The new visit, or None when its ``client_id`` is already stored (waits for a concurrent twin)."""
    return (await session.execute(pg_insert(visit_t).values(**values)
                                  .on_conflict_do_nothing(index_elements=[visit_t.c.client_id])
                                  .returning(*visit_t.c))).mappings().first()


async def visit_by_client_id(session: AsyncSession, client_id) -> Mapping[str, Any] | None:
    return (await session.execute(select(visit_t).where(visit_t.c.client_id == client_id))).mappings().first()


async def page(session: AsyncSession, table, *, household_id: int, after: int, limit: int
               ) -> Sequence[Mapping[str, Any]]:
    return (await session.execute(select(table).where(table.c.household_id == household_id, table.c.id > after)
                                  .order_by(table.c.id).limit(limit))).mappings().all()
