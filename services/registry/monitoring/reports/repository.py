"""Every query on monitoring_report."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.households.scope import Scope

OVERDUE_AFTER = timedelta(days=2)      # a report not acted on for longer than this is overdue

COLUMNS = ("r.id, r.reference, r.village_code, r.name, r.id_enc, r.id_masked, r.phone_enc, r.phone_masked, "
           "r.description, r.household_id, r.status, r.case_id, r.reason, r.decided_by, r.decided_at, r.created_at, "
           "r.version")


async def region_name(session: AsyncSession, code: str) -> str | None:
    return (await session.execute(text("SELECT name FROM region WHERE code = :c"), {"c": code})).scalar_one_or_none()


async def insert(session: AsyncSession, *, values: dict[str, Any]) -> Mapping[str, Any]:
    """One statement whatever the ID number: the registry person is matched inside it (by the ID digest)."""
    return (await session.execute(text("""
        INSERT INTO monitoring_report (reference, village_code, name, id_hmac, id_enc, id_masked, phone_enc,
                                       phone_masked, description, household_id, created_at)
        SELECT :reference, :village_code, :name, :id_hmac, :id_enc, :id_masked, :phone_enc, :phone_masked,
               :description, (SELECT m.household_id FROM member m WHERE m.id_hmac = :id_hmac), :created_at
        RETURNING id, household_id"""), values)).mappings().one()


async def get(session: AsyncSession, *, scope: Scope, report_id: int, lock: bool = False
              ) -> Mapping[str, Any] | None:
    sql = f"SELECT {COLUMNS} FROM monitoring_report r WHERE r.id = :id AND r.village_code BETWEEN :lo AND :hi"
    if lock:
        sql += " FOR UPDATE"
    return (await session.execute(text(sql), {"id": report_id, "lo": scope.lo, "hi": scope.hi})).mappings().first()


async def listed(session: AsyncSession, *, scope: Scope, status: str | None, before_id: int | None,
                 limit: int) -> Sequence[Mapping[str, Any]]:
    where = ["r.village_code BETWEEN :lo AND :hi"]
    params: dict[str, Any] = {"lo": scope.lo, "hi": scope.hi, "limit": limit}
    if status is not None:
        where.append("r.status = :status")
        params["status"] = status
    if before_id is not None:
        where.append("r.id < :before")
        params["before"] = before_id
    return (await session.execute(text(f"SELECT {COLUMNS} FROM monitoring_report r WHERE {' AND '.join(where)} "
                                       "ORDER BY r.id DESC LIMIT :limit"), params)).mappings().all()


async def decide(session: AsyncSession, *, report_id: int, status: str, reason: str | None, actor: str,
                 at: datetime) -> Mapping[str, Any]:
    return (await session.execute(text(f"""
        UPDATE monitoring_report r SET status = :status, reason = :reason, decided_by = :actor, decided_at = :at,
               version = version + 1
        WHERE r.id = :id RETURNING {COLUMNS}"""),
        {"id": report_id, "status": status, "reason": reason, "actor": actor, "at": at})).mappings().one()


async def mark_case_opened(session: AsyncSession, *, report_id: int, case_id: int) -> bool:
    """A case was opened from this report: ``accepted`` with the case's id. False when the report is not open
    (already accepted or dismissed) or does not exist; the caller (the case's opening) decides what that means."""
    result = await session.execute(text("""
        UPDATE monitoring_report SET status = 'accepted', case_id = :case_id, version = version + 1
        WHERE id = :id AND status = 'open'"""), {"id": report_id, "case_id": case_id})
    return result.rowcount == 1


async def overdue(session: AsyncSession, *, prefix: str, cutoff: datetime, limit: int) -> Sequence[Mapping[str, Any]]:
    """Open reports that came in before ``cutoff`` in the subtree of ``prefix`` (a code's significant digits; ""
    for every region), oldest first."""
    return (await session.execute(text("""
        SELECT id, village_code, created_at FROM monitoring_report
        WHERE status = 'open' AND created_at < :cutoff AND village_code LIKE :prefix
        ORDER BY created_at, id LIMIT :n"""), {"cutoff": cutoff, "prefix": prefix + "%", "n": limit})).mappings().all()
