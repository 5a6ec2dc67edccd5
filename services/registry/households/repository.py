"""Every household query. Raw SQL (named parameters) run either in the request's session or, for the hot read,
straight on the asyncpg pool; both see the same text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.households.models import Household, Member
from services.registry.households.scope import Scope

household_t = Household.__table__
member_t = Member.__table__

_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


@lru_cache(maxsize=64)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters → asyncpg's ``$n`` (and the names in order)."""
    names: list[str] = []

    def sub(m: re.Match) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return _BIND.sub(sub, sql), tuple(names)


async def fetch_one(session: AsyncSession, sql: str, **params: Any) -> Mapping[str, Any] | None:
    return (await session.execute(text(sql), params)).mappings().first()


async def fetch_all(session: AsyncSession, sql: str, **params: Any) -> Sequence[Mapping[str, Any]]:
    return (await session.execute(text(sql), params)).mappings().all()


# --- the household view (one statement: household, members, incomes, assurances, and the PII access log) ----

_SCOPED = """h.village_code BETWEEN :lo AND :hi
    AND (CAST(:helper AS text) IS NULL OR h.helper_user_id = CAST(:helper AS text))"""

VIEW_SQL = f"""
WITH h AS (
  SELECT h.*, r.name AS village_name
  FROM household h LEFT JOIN region r ON r.code = h.village_code
  WHERE h.id = :id AND {_SCOPED}
), logged AS (
  INSERT INTO pii_access_log (actor, role, endpoint, household_ids, request_id)
  SELECT CAST(:actor AS text), CAST(:role AS text), CAST(:endpoint AS text), ARRAY[h.id], CAST(:request_id AS text)
  FROM h WHERE CAST(:log AS boolean)
  RETURNING 1
)
SELECT h.*,
  (SELECT coalesce(json_agg(json_build_object(
      'id', m.id, 'name', m.name, 'id_enc', m.id_enc, 'id_masked', m.id_masked, 'sex', m.sex,
      'birth_date', m.birth_date, 'relation', m.relation, 'health', m.health, 'labor', m.labor,
      'education', m.education, 'in_school', m.in_school, 'migrant_worker', m.migrant_worker, 'version', m.version)
      ORDER BY m.relation <> 'head', m.id), '[]')
   FROM member m WHERE m.household_id = h.id) AS members,
  (SELECT coalesce(json_agg(i ORDER BY i.year), '[]') FROM income i WHERE i.household_id = h.id) AS incomes,
  (SELECT coalesce(json_agg(a ORDER BY a.year), '[]') FROM assurance a WHERE a.household_id = h.id) AS assurances,
  (SELECT json_build_object('id', c.id, 'case_no', c.case_no, 'status', c.status, 'category', c.category)
   FROM monitoring_case c WHERE c.household_id = h.id AND c.status NOT IN ('eliminated', 'rejected'))
   AS monitoring_case
FROM h
"""


def view_params(*, household_id: int, scope: Scope, endpoint: str) -> dict[str, Any]:
    return {"id": household_id, "lo": scope.lo, "hi": scope.hi, "helper": scope.helper, "actor": scope.actor,
            "role": scope.role, "endpoint": endpoint[:500], "request_id": scope.request_id, "log": scope.full_pii}


async def fetch_view(session: AsyncSession, *, household_id: int, scope: Scope, endpoint: str
                     ) -> Mapping[str, Any] | None:
    return await fetch_one(session, VIEW_SQL, **view_params(household_id=household_id, scope=scope,
                                                            endpoint=endpoint))


async def fetch_view_pooled(pool: asyncpg.Pool, *, household_id: int, scope: Scope, endpoint: str
                            ) -> Mapping[str, Any] | None:
    """The hot path: one statement on a pooled asyncpg connection (autocommit: read and log atomically)."""
    sql, names = positional(VIEW_SQL)
    params = view_params(household_id=household_id, scope=scope, endpoint=endpoint)
    async with pool.acquire() as conn:
        return await conn.fetchrow(sql, *(params[n] for n in names))


async def log_access(session: AsyncSession, *, scope: Scope, endpoint: str, household_ids: Sequence[int]) -> None:
    """One row saying who was shown full ID numbers of which households (no-op when nothing was shown)."""
    if not household_ids:
        return
    await session.execute(text(
        "INSERT INTO pii_access_log (actor, role, endpoint, household_ids, request_id) "
        "VALUES (:actor, :role, :endpoint, :ids, :rid)"),
        {"actor": scope.actor, "role": scope.role, "endpoint": endpoint[:500], "ids": list(household_ids),
         "rid": scope.request_id})


# --- writes ------------------------------------------------------------------------------------------------

async def village(session: AsyncSession, code: str) -> Mapping[str, Any] | None:
    return await fetch_one(session, "SELECT code, name, level FROM region WHERE code = :code", code=code)


async def allocate_household_nos(session: AsyncSession, *, village_code: str, count: int = 1) -> list[str]:
    """``count`` consecutive household numbers for a village (village code + 4-digit sequence; 5 digits past
    9999). Race-safe: the village's counter row is locked until the transaction ends; set-based loaders ask
    for a whole range in one call."""
    last = (await session.execute(text(
        "INSERT INTO village_seq (village_code, last_no) VALUES (:v, :n) "
        "ON CONFLICT (village_code) DO UPDATE SET last_no = village_seq.last_no + EXCLUDED.last_no "
        "RETURNING last_no"), {"v": village_code, "n": count})).scalar_one()
    return [f"{village_code}{n:04d}" for n in range(last - count + 1, last + 1)]


async def insert_household(session: AsyncSession, values: dict[str, Any]) -> int:
    return (await session.execute(household_t.insert().values(**values).returning(household_t.c.id))).scalar_one()


async def insert_members(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """One multi-row INSERT (rows sorted by digest, so concurrent inserts lock index entries in one order)."""
    rows = sorted(rows, key=lambda r: r["id_hmac"])
    result = await session.execute(member_t.insert().values(rows).returning(member_t.c.id, member_t.c.id_hmac))
    return [r.id for r in result]


async def holder(session: AsyncSession, digests: Sequence[bytes]) -> Mapping[str, Any] | None:
    """The household already holding any of these people (by ID number digest)."""
    return await fetch_one(session, """
        SELECT m.id AS member_id, m.id_masked, h.id AS household_id, h.household_no
        FROM member m JOIN household h ON h.id = m.household_id
        WHERE m.id_hmac = ANY(:d) ORDER BY m.id LIMIT 1""", d=list(digests))


async def lock(session: AsyncSession, *, household_id: int, scope: Scope, for_update: bool = True
               ) -> Mapping[str, Any] | None:
    """The household row (locked for this transaction unless ``for_update=False``) if it is in the caller's
    scope."""
    return await fetch_one(session, f"""
        SELECT h.*, r.name AS village_name FROM household h LEFT JOIN region r ON r.code = h.village_code
        WHERE h.id = :id AND {_SCOPED} {'FOR UPDATE OF h' if for_update else ''}""",
        id=household_id, lo=scope.lo, hi=scope.hi, helper=scope.helper)


async def update_household(session: AsyncSession, *, household_id: int, values: dict[str, Any]) -> int:
    """Apply ``values``, bump the version; returns the new version."""
    return (await session.execute(
        household_t.update().where(household_t.c.id == household_id)
        .values(**values, version=household_t.c.version + 1, updated_at=text("now()"))
        .returning(household_t.c.version))).scalar_one()


async def member(session: AsyncSession, *, household_id: int, member_id: int) -> Mapping[str, Any] | None:
    return await fetch_one(session, "SELECT * FROM member WHERE id = :m AND household_id = :h FOR UPDATE",
                           m=member_id, h=household_id)


async def update_member(session: AsyncSession, *, member_id: int, values: dict[str, Any]) -> Mapping[str, Any]:
    return (await session.execute(
        member_t.update().where(member_t.c.id == member_id)
        .values(**values, version=member_t.c.version + 1).returning(*member_t.c))).mappings().one()


async def delete_member(session: AsyncSession, *, member_id: int) -> None:
    await session.execute(member_t.delete().where(member_t.c.id == member_id))


async def member_by_id(session: AsyncSession, member_id: int) -> Mapping[str, Any]:
    return await fetch_one(session, "SELECT * FROM member WHERE id = :m", m=member_id)


async def head_of(session: AsyncSession, household_id: int) -> Mapping[str, Any] | None:
    return await fetch_one(session, "SELECT * FROM member WHERE household_id = :h AND relation = 'head'",
                           h=household_id)


# --- reads -------------------------------------------------------------------------------------------------

LIST_COLUMNS = """h.id, h.household_no, h.village_code, r.name AS village_name, h.address, h.phone_enc,
  h.phone_masked, h.attribute, h.main_cause, h.other_causes, h.identified_year, h.status, h.pending_action,
  h.pending_notice_id, h.pending_year, h.helper_user_id, h.head_name, h.member_count, h.version,
  hd.id AS head_member_id, hd.id_enc AS head_id_enc, hd.id_masked AS head_id_masked"""


async def list_households(session: AsyncSession, *, scope: Scope, after: int, limit: int, status: str | None,
                          attribute: str | None, cause: str | None, digest: bytes | None, name_prefix: str | None,
                          household_no: str | None) -> Sequence[Mapping[str, Any]]:
    where = [_SCOPED, "h.id > :after"]
    params: dict[str, Any] = {"lo": scope.lo, "hi": scope.hi, "helper": scope.helper, "after": after,
                              "limit": limit}
    if status:
        where.append("h.status = :status")
        params["status"] = status
    if attribute:
        where.append("h.attribute = :attribute")
        params["attribute"] = attribute
    if cause:
        where.append("(h.main_cause = :cause OR CAST(:cause AS varchar) = ANY(h.other_causes))")
        params["cause"] = cause
    search = []
    if digest is not None:
        search.append("h.id IN (SELECT household_id FROM member WHERE id_hmac = :digest)")
        params["digest"] = digest
    if name_prefix is not None:
        search.append("h.id IN (SELECT household_id FROM member WHERE name LIKE :name ESCAPE '\\')")
        params["name"] = name_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if household_no is not None:
        search.append("h.household_no = :no")
        params["no"] = household_no
    if search:
        where.append("(" + " OR ".join(search) + ")")
    return await fetch_all(session, f"""
        SELECT {LIST_COLUMNS}
        FROM household h LEFT JOIN region r ON r.code = h.village_code
        LEFT JOIN member hd ON hd.household_id = h.id AND hd.relation = 'head'
        WHERE {' AND '.join(where)} ORDER BY h.id LIMIT :limit""", **params)


async def person(session: AsyncSession, *, scope: Scope, digest: bytes) -> Mapping[str, Any] | None:
    return await fetch_one(session, f"""
        SELECT m.id AS member_id, h.id AS household_id FROM member m JOIN household h ON h.id = m.household_id
        WHERE m.id_hmac = :d AND {_SCOPED}""", d=digest, lo=scope.lo, hi=scope.hi, helper=scope.helper)


async def eligibility_rows(session: AsyncSession, ids: Sequence[int]) -> Sequence[Mapping[str, Any]]:
    return await fetch_all(session, f"""
        SELECT {LIST_COLUMNS}, h.payout_bank_code, h.payout_account_enc, h.payout_account_masked
        FROM household h LEFT JOIN region r ON r.code = h.village_code
        LEFT JOIN member hd ON hd.household_id = h.id AND hd.relation = 'head'
        WHERE h.id = ANY(:ids)""", ids=list(ids))
