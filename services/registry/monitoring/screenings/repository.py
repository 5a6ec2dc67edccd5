"""Every query on screening_row and monitoring_warning. Rows arrive by COPY into a temporary table and move into
``screening_row`` with one ``INSERT … SELECT``; warnings come from ``rules.statement`` (one statement)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.households.scope import Scope
from services.registry.monitoring.screenings import rules

INCOMING = "_screening_in"
INCOMING_COLUMNS = ("digest", "id_hmac", "id_masked", "department", "kind", "amount_fen", "occurred_on")


async def load_incoming(session: AsyncSession, conn: asyncpg.Connection, records: list[tuple]) -> None:
    """The file's valid rows into a temporary table of this transaction (COPY)."""
    await session.execute(text(f"""
        CREATE TEMP TABLE {INCOMING} (digest bytea NOT NULL, id_hmac bytea NOT NULL, id_masked text NOT NULL,
            department text NOT NULL, kind text NOT NULL, amount_fen bigint NOT NULL, occurred_on date NOT NULL)
        ON COMMIT DROP"""))
    await conn.copy_records_to_table(INCOMING, records=records, columns=INCOMING_COLUMNS)
    await session.execute(text(f"ANALYZE {INCOMING}"))


async def incoming_distinct(session: AsyncSession) -> int:
    """Distinct rows of the file (by content digest) in the temporary table."""
    return (await session.execute(text(f"SELECT count(DISTINCT digest) FROM {INCOMING}"))).scalar_one()

async def store(session: AsyncSession, *, job_id: uuid.UUID, scope: Scope) -> Mapping[str, int]:
    """New rows inserted, each matched to the household of its person within the importer's region (by the ID
    digest); a row already stored is left alone, but gets its household if it had none and has one now."""
    return (await session.execute(text(f"""
        WITH src AS (
          SELECT DISTINCT ON (digest) * FROM {INCOMING} ORDER BY digest
        ), people AS (
          SELECT m.id_hmac, m.household_id FROM member m JOIN household h ON h.id = m.household_id
          WHERE h.village_code BETWEEN :lo AND :hi
        ), matched AS (
          SELECT s.*, p.household_id FROM src s LEFT JOIN people p ON p.id_hmac = s.id_hmac
        ), ins AS (
          INSERT INTO screening_row (digest, job_id, id_hmac, id_masked, household_id, department, kind, amount_fen,
                                     occurred_on, year)
          SELECT digest, :job_id, id_hmac, id_masked, household_id, department, kind, amount_fen, occurred_on,
                 extract(year FROM occurred_on)::smallint
          FROM matched
          ON CONFLICT (digest) DO UPDATE SET household_id = EXCLUDED.household_id
            WHERE screening_row.household_id IS NULL AND EXCLUDED.household_id IS NOT NULL
          RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted) AS created, count(*) FILTER (WHERE NOT inserted) AS rematched
        FROM ins"""), {"lo": scope.lo, "hi": scope.hi, "job_id": job_id})).mappings().one()


async def file_counts(session: AsyncSession, *, scope: Scope) -> Mapping[str, int]:
    """Of the file's distinct rows: how many are matched to a household of the importer's region, how many not."""
    return (await session.execute(text(f"""
        SELECT count(*) FILTER (WHERE h.id IS NOT NULL) AS matched, count(*) FILTER (WHERE h.id IS NULL) AS unmatched
        FROM (SELECT DISTINCT digest FROM {INCOMING}) i JOIN screening_row r ON r.digest = i.digest
        LEFT JOIN household h ON h.id = r.household_id AND h.village_code BETWEEN :lo AND :hi"""),
        {"lo": scope.lo, "hi": scope.hi})).mappings().one()


FILE_PAIRS = f"""SELECT DISTINCT r.household_id, r.year FROM screening_row r JOIN {INCOMING} i ON i.digest = r.digest
  WHERE r.household_id IS NOT NULL"""


async def raise_warnings(session: AsyncSession, *, job_id: uuid.UUID | None, scope: Scope,
                         pairs: str = FILE_PAIRS) -> dict[str, int]:
    """Every rule over the households and years of ``pairs`` (default: the rows of the file being imported), in
    one statement; the new warnings per rule."""
    rows = (await session.execute(text(rules.statement(pairs)),
                                  {"lo": scope.lo, "hi": scope.hi, "job_id": job_id})).scalars().all()
    counts = {r.code: 0 for r in rules.RULES}
    for rule in rows:
        counts[rule] += 1
    return counts


# --- warnings ------------------------------------------------------------------------------------------------

WARNING_COLUMNS = ("w.id, w.household_id, h.household_no, h.head_name, w.village_code, w.rule, w.year, w.figures, "
                   "w.status, w.case_id, w.reason, w.decided_by, w.decided_at, w.created_at, w.version")
_FROM = "monitoring_warning w JOIN household h ON h.id = w.household_id"


async def warning(session: AsyncSession, *, scope: Scope, warning_id: int, lock: bool = False
                  ) -> Mapping[str, Any] | None:
    sql = f"SELECT {WARNING_COLUMNS} FROM {_FROM} WHERE w.id = :id AND w.village_code BETWEEN :lo AND :hi"
    if lock:
        sql += " FOR UPDATE OF w"
    return (await session.execute(text(sql), {"id": warning_id, "lo": scope.lo, "hi": scope.hi})).mappings().first()


async def warnings(session: AsyncSession, *, scope: Scope, status: str | None, rule: str | None,
                   year: int | None, before_id: int | None, limit: int) -> Sequence[Mapping[str, Any]]:
    where = ["w.village_code BETWEEN :lo AND :hi"]
    params: dict[str, Any] = {"lo": scope.lo, "hi": scope.hi, "limit": limit}
    for name, value in (("status", status), ("rule", rule), ("year", year)):
        if value is not None:
            where.append(f"w.{name} = :{name}")
            params[name] = value
    if before_id is not None:
        where.append("w.id < :before")
        params["before"] = before_id
    return (await session.execute(text(f"SELECT {WARNING_COLUMNS} FROM {_FROM} WHERE {' AND '.join(where)} "
                                       "ORDER BY w.id DESC LIMIT :limit"), params)).mappings().all()


async def dismiss_warning(session: AsyncSession, *, warning_id: int, reason: str, actor: str, at: datetime) -> None:
    await session.execute(text("""
        UPDATE monitoring_warning SET status = 'dismissed', reason = :reason, decided_by = :actor, decided_at = :at,
               version = version + 1
        WHERE id = :id"""), {"id": warning_id, "reason": reason, "actor": actor, "at": at})


async def mark_case_opened(session: AsyncSession, *, warning_id: int, case_id: int) -> bool:
    """A case was opened from this warning: ``case_opened`` with the case's id. False when the warning is not
    open (a case already opened, or dismissed) or does not exist; the caller decides what that means."""
    result = await session.execute(text("""
        UPDATE monitoring_warning SET status = 'case_opened', case_id = :case_id, version = version + 1
        WHERE id = :id AND status = 'open'"""), {"id": warning_id, "case_id": case_id})
    return result.rowcount == 1


async def finish_job(session: AsyncSession, *, job_id: uuid.UUID, total: int, errors: list[dict[str, Any]],
                     errors_total: int, summary: dict[str, Any], message: str) -> None:
    """The screening's import job done: its counts, stored errors, summary and message (the file dropped)."""
    await session.execute(text(
        "UPDATE import_job SET status = 'done', total = :total, done = :total, errors = CAST(:errors AS jsonb), "
        "errors_total = :errors_total, summary = CAST(:summary AS jsonb), finished_at = clock_timestamp(), "
        "content = NULL, message = :message WHERE id = :id"),
        {"id": job_id, "total": total, "errors": json.dumps(errors, ensure_ascii=False),
         "errors_total": errors_total, "summary": json.dumps(summary), "message": message})
