"""Lifecycle queries: status history, the head's personal data for a notice, households awaiting a notice."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def record_change(session: AsyncSession, *, household_id: int, action: str, from_status: str,
                        to_status: str, year: int, actor: str, reason: str | None = None,
                        notice_id: int | None = None) -> None:
    """One status move, with the household's village and persons at the move (what the year's figures count)."""
    await session.execute(text(
        "INSERT INTO status_change (household_id, village_code, persons, action, from_status, to_status, year,"
        " reason, notice_id, actor) SELECT id, village_code, member_count, :action, :from_status, :to_status,"
        " :year, :reason, :notice_id, :actor FROM household WHERE id = :household_id"),
        {"household_id": household_id, "action": action, "from_status": from_status, "to_status": to_status,
         "year": year, "reason": reason, "notice_id": notice_id, "actor": actor})


async def awaiting(session: AsyncSession, *, household_id: int, notice_id: int, action: str
                   ) -> Mapping[str, Any] | None:
    """The household, locked, if it is waiting for exactly this notice to apply ``action``."""
    return (await session.execute(text(
        "SELECT * FROM household WHERE id = :id AND pending_notice_id = :n AND pending_action = :a FOR UPDATE"),
        {"id": household_id, "n": notice_id, "a": action})).mappings().first()
