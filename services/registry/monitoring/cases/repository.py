"""Every query on monitoring cases and their history, and the facts their rules read (incomes, assurances,
measures, members' labour)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.households.scope import Scope
from services.registry.monitoring.cases.models import MonitoringCase, MonitoringCaseStep

case_t = MonitoringCase.__table__
step_t = MonitoringCaseStep.__table__

_SCOPED = """c.village_code BETWEEN :lo AND :hi
  AND (CAST(:helper AS text) IS NULL OR h.helper_user_id = CAST(:helper AS text))"""

_CASE = """
SELECT c.*, h.household_no, h.head_name, h.status AS household_status, h.helper_user_id, h.phone_enc,
  h.member_count, r.name AS village_name
FROM monitoring_case c JOIN household h ON h.id = c.household_id LEFT JOIN region r ON r.code = c.village_code"""


def _scope_params(scope: Scope) -> dict[str, Any]:
    return {"lo": scope.lo, "hi": scope.hi, "helper": scope.helper}


async def next_id(session: AsyncSession) -> int:
    return (await session.execute(text(
        "SELECT nextval(pg_get_serial_sequence('monitoring_case', 'id'))"))).scalar_one()


async def insert_case(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(case_t.insert().values(**values))


async def open_case_of(session: AsyncSession, household_id: int) -> Mapping[str, Any] | None:
    return (await session.execute(text(
        "SELECT id, case_no, status FROM monitoring_case WHERE household_id = :h "
        "AND status NOT IN ('eliminated', 'rejected')"), {"h": household_id})).mappings().first()


async def get(session: AsyncSession, *, case_id: int, scope: Scope, for_update: bool = False
              ) -> Mapping[str, Any] | None:
    return (await session.execute(text(
        f"{_CASE} WHERE c.id = :id AND {_SCOPED} {'FOR UPDATE OF c' if for_update else ''}"),
        {"id": case_id, **_scope_params(scope)})).mappings().first()


async def get_by_id(session: AsyncSession, case_id: int, *, for_update: bool = False) -> Mapping[str, Any] | None:
    return (await session.execute(text(f"{_CASE} WHERE c.id = :id {'FOR UPDATE OF c' if for_update else ''}"),
                                  {"id": case_id})).mappings().first()


async def listed(session: AsyncSession, *, scope: Scope, status: str | None, category: str | None, after: int,
                 limit: int) -> Sequence[Mapping[str, Any]]:
    where = [_SCOPED, "c.id > :after"]
    params: dict[str, Any] = {**_scope_params(scope), "after": after, "limit": limit}
    if status:
        where.append("c.status = :status")
        params["status"] = status
    if category:
        where.append("c.category = :category")
        params["category"] = category
    return (await session.execute(text(f"{_CASE} WHERE {' AND '.join(where)} ORDER BY c.id LIMIT :limit"),
                                  params)).mappings().all()


async def update_case(session: AsyncSession, *, case_id: int, values: dict[str, Any]) -> None:
    await session.execute(case_t.update().where(case_t.c.id == case_id)
                          .values(**values, version=case_t.c.version + 1, updated_at=text("now()")))


async def add_step(session: AsyncSession, **values: Any) -> None:
    await session.execute(step_t.insert().values(**values))


async def steps(session: AsyncSession, case_id: int) -> Sequence[Mapping[str, Any]]:
    return (await session.execute(text("SELECT * FROM monitoring_case_step WHERE case_id = :c ORDER BY id"),
                                  {"c": case_id})).mappings().all()


# --- facts the rules read ------------------------------------------------------------------------------------

async def measures_since(session: AsyncSession, *, household_id: int, since: datetime) -> int:
    return (await session.execute(text(
        "SELECT count(*) FROM measure WHERE household_id = :h AND created_at >= :since"),
        {"h": household_id, "since": since})).scalar_one()


async def labor_of_members(session: AsyncSession, household_id: int) -> list[str]:
    return list((await session.execute(text("SELECT labor FROM member WHERE household_id = :h"),
                                       {"h": household_id})).scalars().all())


async def head_of(session: AsyncSession, household_id: int) -> Mapping[str, Any] | None:
    return (await session.execute(text(
        "SELECT name, id_enc FROM member WHERE household_id = :h AND relation = 'head'"),
        {"h": household_id})).mappings().first()
