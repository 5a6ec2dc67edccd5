"""Lifecycle queries: status history, the head's personal data for a notice, households awaiting a notice."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.households.models import StatusChange

status_change_t = StatusChange.__table__


async def record_change(session: AsyncSession, *, household_id: int, action: str, from_status: str,
                        to_status: str, year: int, actor: str, reason: str | None = None,
                        notice_id: int | None = None) -> None:
    await session.execute(status_change_t.insert().values(
        household_id=household_id, action=action, from_status=from_status, to_status=to_status, year=year,
        reason=reason, notice_id=notice_id, actor=actor))


async def awaiting(session: AsyncSession, *, household_id: int, notice_id: int, action: str
                   ) -> Mapping[str, Any] | None:
    """The household, locked, if it is waiting for exactly this notice to apply ``action``."""
    return (await session.execute(text(
        "SELECT * FROM household WHERE id = :id AND pending_notice_id = :n AND pending_action = :a FOR UPDATE"),
        {"id": household_id, "n": notice_id, "a": action})).mappings().first()
