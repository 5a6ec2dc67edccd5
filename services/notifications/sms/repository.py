"""Every SMS query: inserting once per fact, listing a region's messages, claiming due ones for delivery."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import Row, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.locks import HELD, RunLock
from services.notifications.sms.models import SmsMessage
from shared import audit
from shared.tables import audit_pending

table = SmsMessage.__table__


# one statement for any number of rows (executemany: SQLAlchemy's "insertmanyvalues"), compiled once
_INSERT = pg_insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)


async def insert_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert those whose ``dedupe_key`` has no message yet (the first of a key given twice); their ids."""
    if not rows:
        return []
    return list((await session.execute(_INSERT, list(rows))).scalars())


async def audit_all(session: AsyncSession, entries: Sequence[tuple[str, str, Any, Any]]) -> None:
    """Audit rows ``(actor, action, entity_id, diff)`` of SMS: one ``INSERT`` for them all (the first through
    ``audit.record``, so that the commit seals them at once)."""
    if not entries:
        return
    (actor, action, entity_id, diff), rest = entries[0], entries[1:]
    await audit.record(session, actor=actor, action=action, entity="sms_message", entity_id=entity_id, diff=diff)
    if rest:
        at = datetime.now(UTC)
        await session.execute(audit_pending.insert(), [
            {"at": at, "actor": a, "action": act, "entity": "sms_message", "entity_id": str(i),
             "diff": jsonable_encoder(d)} for a, act, i, d in rest])


async def phone_enc_of(session: AsyncSession, dedupe_key: str) -> bytes | None:
    return (await session.execute(text("SELECT phone_enc FROM sms_message WHERE dedupe_key = :k"),
                                  {"k": dedupe_key})).scalar_one_or_none()


async def get(session: AsyncSession, message_id: uuid.UUID) -> SmsMessage | None:
    return await session.get(SmsMessage, message_id)


async def list_(session: AsyncSession, *, region_range: tuple[str, str] | None, status: str | None,
                kind: str | None, before: tuple[datetime, uuid.UUID] | None, limit: int) -> list[SmsMessage]:
    """Newest first; ``region_range`` is the (lowest, highest) code of a subtree."""
    q = select(SmsMessage).order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc()).limit(limit)
    if region_range:
        q = q.where(SmsMessage.region_code.between(*region_range))
    if status:
        q = q.where(SmsMessage.status == status)
    if kind:
        q = q.where(SmsMessage.kind == kind)
    if before:
        q = q.where(tuple_(SmsMessage.created_at, SmsMessage.id) < before)
    return list((await session.exec(q)).all())


async def claim_due(session: AsyncSession, *, limit: int, lease_seconds: float, max_attempts: int,
                    now: datetime, only_kinds: Sequence[str] | None = None,
                    lock: RunLock | None = None) -> tuple[Sequence[Row], Sequence[Row]]:
    """Lock up to ``limit`` messages due at ``now`` (skipping those another run holds) and lease them for one attempt.

    Returns ``(claimed, abandoned)``: claimed rows carry ``id, kind, phone_enc, text, attempts`` (the attempt
    now being made); abandoned ones had used their last attempt without an outcome being recorded (the worker
    stopped mid-send) and are marked ``failed`` here. ``only_kinds`` (quiet hours: the urgent kinds) limits the
    claim to those kinds. With ``lock``, nothing is claimed unless that run still holds its lock (``locks.HELD``).
    """
    fence, params = "", {"n": limit, "now": now}
    if lock is not None:
        fence, params = f" AND {HELD}", params | lock.params()
    if only_kinds is not None:
        fence, params = fence + " AND kind = ANY(:kinds)", params | {"kinds": list(only_kinds)}
    due = (await session.execute(text(
        "SELECT id, attempts FROM sms_message WHERE status = 'queued' AND next_attempt_at <= :now" + fence +
        " ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED"), params)).all()
    spent = [r.id for r in due if r.attempts >= max_attempts]
    fresh = [r.id for r in due if r.attempts < max_attempts]
    abandoned: Sequence[Row] = []
    claimed: Sequence[Row] = []
    if spent:
        abandoned = (await session.execute(text(
            "UPDATE sms_message SET status = 'failed', next_attempt_at = NULL, "
            "last_error = 'no outcome recorded for the last attempt (the worker stopped while sending)' "
            "WHERE id = ANY(:ids) RETURNING id, attempts"), {"ids": spent})).all()
    if fresh:
        claimed = (await session.execute(text(
            "UPDATE sms_message SET attempts = attempts + 1, "
            "next_attempt_at = CAST(:now AS timestamptz) + make_interval(secs => :lease) "
            "WHERE id = ANY(:ids) RETURNING id, kind, phone_enc, text, attempts"),
            {"ids": fresh, "lease": float(lease_seconds), "now": now})).all()
    return claimed, abandoned


async def settle_many(session: AsyncSession, outcomes: Sequence[tuple[uuid.UUID, int, str, str | None,
                                                                        datetime | None]]) -> dict[uuid.UUID, float]:
    """Record attempts' outcomes ``(id, attempt, status, error, next_at)`` in one statement, each unless its lease
    was lost (another worker has made a later attempt); returns, for those recorded, the seconds from queued to
    now (the delivery latency, for a sent message)."""
    if not outcomes:
        return {}
    ids, attempts, statuses, errors, next_ats = (list(c) for c in zip(*outcomes))
    result = await session.execute(text(
        "UPDATE sms_message AS m SET status = o.status, last_error = o.error, "
        "next_attempt_at = CASE WHEN o.status = 'sent' THEN NULL ELSE o.next_at END, "
        "sent_at = CASE WHEN o.status = 'sent' THEN now() ELSE m.sent_at END "
        "FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS int[]), CAST(:statuses AS text[]), "
        "CAST(:errors AS text[]), CAST(:next_ats AS timestamptz[])) AS o(id, attempt, status, error, next_at) "
        "WHERE m.id = o.id AND m.status = 'queued' AND m.attempts = o.attempt "
        "RETURNING m.id, extract(epoch FROM now() - m.created_at) AS latency"),
        {"ids": ids, "attempts": attempts, "statuses": statuses, "errors": errors, "next_ats": next_ats})
    return {r.id: float(r.latency) for r in result.all()}
