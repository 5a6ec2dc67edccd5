"""一码申报 rules.

A public report is answered alike whatever the ID number: the same statements run for a known and an unknown
person (the match is a subquery of the insert), the answer is a fresh opaque reference and nothing else. The
report's personal data is stored encrypted (as members are); the township's officers hear of it through an
outbox event in the same transaction. Officers list reports of their region (others' are 404), see ID numbers and
phones in full when their role may, and dismiss a report with a reason (audit chain)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.households import repository as households
from services.registry.households.scope import Scope
from services.registry.households.service import ID_FIELD, person_digest
from services.registry.monitoring import clock
from services.registry.monitoring.reports import repository
from services.registry.monitoring.reports.schemas import STATUS_LABELS, ReportIn, ReportRead, ReportStatus
from shared import audit, outbox
from shared.idnumber import mask, mask_phone
from shared.pagination import decode_cursor, encode_cursor
from shared.pii import PiiCipher
from shared.problems import Conflict, NotFound, Unprocessable

TOPIC = "monitoring_report.created"


def not_found() -> NotFound:
    return NotFound("No such report")


async def submit(*, session: AsyncSession, cipher: PiiCipher, report_in: ReportIn) -> str:
    """Store the report, match it to the registry person, tell the township; returns the receipt reference."""
    village = report_in.village_code
    if await repository.region_name(session, village) is None:
        raise Unprocessable("no such village", errors=[{"loc": ["body", "village_code"], "msg": "no such village"}])
    idn = report_in.id_number
    reference = secrets.token_urlsafe(12)           # 16 characters, random: reveals nothing
    row = await repository.insert(session, values={
        "reference": reference, "village_code": village, "name": report_in.name,
        "id_hmac": person_digest(cipher, idn), "id_enc": cipher.encrypt(idn, field=ID_FIELD), "id_masked": mask(idn),
        "phone_enc": cipher.encrypt(report_in.phone, field="phone"), "phone_masked": mask_phone(report_in.phone),
        "description": report_in.description, "created_at": clock.now()})
    await audit.record(session, actor="public", action="monitoring_report.create", entity="monitoring_report",
                       entity_id=row["id"], diff={"reference": reference, "village_code": village,
                                                  "id_number": mask(idn), "phone": mask_phone(report_in.phone),
                                                  "household_id": row["household_id"]})
    await outbox.emit(session, topic=TOPIC, to=["notifications"],
                      payload={"report_id": row["id"], "village_code": village, "region_code": village,
                               "reporter_name": report_in.name,
                               "village_name": await repository.region_name(session, village)})
    return reference


def to_read(row: Mapping[str, Any], *, cipher: PiiCipher, full: bool) -> ReportRead:
    now = clock.now()
    return ReportRead(
        id=row["id"], reference=row["reference"], village_code=row["village_code"].strip(), name=row["name"],
        id_number=cipher.decrypt(row["id_enc"], field=ID_FIELD) if full else row["id_masked"],
        phone=cipher.decrypt(row["phone_enc"], field="phone") if full else row["phone_masked"],
        description=row["description"], household_id=row["household_id"], status=ReportStatus(row["status"]),
        status_label=STATUS_LABELS[row["status"]],
        overdue=row["status"] == "open" and row["created_at"] < now - repository.OVERDUE_AFTER,
        case_id=row["case_id"], reason=row["reason"], decided_by=row["decided_by"], decided_at=row["decided_at"],
        created_at=row["created_at"], version=row["version"])


async def get(*, session: AsyncSession, scope: Scope, report_id: int, lock: bool = False) -> Mapping[str, Any]:
    row = await repository.get(session, scope=scope, report_id=report_id, lock=lock)
    if row is None:
        raise not_found()
    return row


async def listed(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, region: str | None,
                 status: ReportStatus | None, limit: int, cursor: str | None) -> tuple[list[ReportRead], str | None]:
    narrowed = scope.within(region) if region else scope
    key = decode_cursor(cursor, id=int)
    if narrowed is None:
        return [], None
    rows = await repository.listed(session, scope=narrowed, status=status.value if status else None,
                                   before_id=key["id"] if key else None, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [to_read(r, cipher=cipher, full=scope.full_pii) for r in rows]
    return items, encode_cursor({"id": rows[-1]["id"]}) if more else None


async def dismiss(*, session: AsyncSession, scope: Scope, cipher: PiiCipher, report_id: int, reason: str
                  ) -> ReportRead:
    report = await get(session=session, scope=scope, report_id=report_id, lock=True)
    if report["status"] != "open":
        raise Conflict("Only an open report can be dismissed", slug="report-not-open",
                       current_status=report["status"])
    row = await repository.decide(session, report_id=report_id, status="dismissed", reason=reason,
                                  actor=scope.actor, at=clock.now())
    await audit.record(session, actor=scope.actor, action="monitoring_report.dismiss", entity="monitoring_report",
                       entity_id=report_id, diff={"status": ["open", "dismissed"], "reason": reason})
    return to_read(row, cipher=cipher, full=scope.full_pii)


async def village_name(session: AsyncSession, code: str | None) -> str | None:
    """The name of the village ``code`` (for the public page), None when it is not one."""
    return await repository.region_name(session, code) if code else None


async def log_shown(session: AsyncSession, *, scope: Scope, endpoint: str, reports: Sequence[ReportRead]) -> None:
    """Reports of registry people shown in full go in the PII access log (their households)."""
    if scope.full_pii:
        ids = sorted({r.household_id for r in reports if r.household_id is not None})
        await households.log_access(session, scope=scope, endpoint=endpoint, household_ids=ids)


async def overdue(*, session: AsyncSession, prefix: str, limit: int) -> Sequence[Mapping[str, Any]]:
    """Reports still open more than two days after they came in, oldest first, under ``prefix``."""
    return await repository.overdue(session, prefix=prefix, cutoff=clock.now() - repository.OVERDUE_AFTER,
                                    limit=limit)
