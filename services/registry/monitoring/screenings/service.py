"""Screening uploads become jobs (``bulk.jobs``); their warnings are read and dismissed here, within the caller's
region (another region's warning is 404). Dismissal goes into the audit chain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.bulk import jobs
from services.registry.households.scope import Scope
from services.registry.monitoring import clock
from services.registry.monitoring.screenings import importer, repository, rules
from services.registry.monitoring.screenings.schemas import STATUS_LABELS, WarningRead, WarningStatus
from shared import audit
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import Conflict, NotFound


async def upload(*, session: AsyncSession, scope: Scope, region_code: str, filename: str, content: bytes
                 ) -> uuid.UUID:
    return await jobs.create(session, scope=scope, region_code=region_code, filename=filename, content=content,
                             kind=importer.KIND, topic=importer.TOPIC)


def to_read(row: Mapping[str, Any]) -> WarningRead:
    return WarningRead(id=row["id"], household_id=row["household_id"], household_no=row["household_no"],
                       head_name=row["head_name"], village_code=row["village_code"].strip(), rule=row["rule"],
                       rule_label=rules.LABELS.get(row["rule"], row["rule"]), year=row["year"],
                       figures=row["figures"], status=WarningStatus(row["status"]),
                       status_label=STATUS_LABELS[row["status"]], case_id=row["case_id"], reason=row["reason"],
                       decided_by=row["decided_by"], decided_at=row["decided_at"], created_at=row["created_at"],
                       version=row["version"])


async def get(*, session: AsyncSession, scope: Scope, warning_id: int, lock: bool = False) -> Mapping[str, Any]:
    row = await repository.warning(session, scope=scope, warning_id=warning_id, lock=lock)
    if row is None:
        raise NotFound("No such warning")
    return row


async def listed(*, session: AsyncSession, scope: Scope, region: str | None, status: WarningStatus | None,
                 rule: str | None, year: int | None, limit: int, cursor: str | None
                 ) -> tuple[list[WarningRead], str | None]:
    key = decode_cursor(cursor, id=int)
    narrowed = scope.within(region) if region else scope
    if narrowed is None:
        return [], None
    rows = await repository.warnings(session, scope=narrowed, status=status.value if status else None,
                                     rule=rule, year=year, before_id=key["id"] if key else None, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [to_read(r) for r in rows], encode_cursor({"id": rows[-1]["id"]}) if more else None


async def dismiss(*, session: AsyncSession, scope: Scope, warning_id: int, reason: str) -> WarningRead:
    row = await get(session=session, scope=scope, warning_id=warning_id, lock=True)
    if row["status"] != "open":
        raise Conflict("Only an open warning can be dismissed", slug="warning-not-open", current_status=row["status"])
    await repository.dismiss_warning(session, warning_id=warning_id, reason=reason, actor=scope.actor, at=clock.now())
    await audit.record(session, actor=scope.actor, action="monitoring_warning.dismiss", entity="monitoring_warning",
                       entity_id=warning_id, diff={"status": ["open", "dismissed"], "reason": reason,
                                                   "rule": row["rule"], "year": row["year"],
                                                   "household_id": row["household_id"]})
    return to_read(await get(session=session, scope=scope, warning_id=warning_id))
