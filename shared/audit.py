"""The hash-chained audit log: appended in the writer's transaction, verified end to end."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.auth import require_service
from shared.db import SessionDep
from shared.tables import GENESIS, audit_head, audit_log


def _digest(seq: int, at: datetime, actor: str, action: str, entity: str, entity_id: str, diff: Any,
            prev_hash: str) -> str:
    content = {"seq": seq, "at": at.astimezone(UTC).isoformat(), "actor": actor, "action": action,
               "entity": entity, "entity_id": entity_id, "diff": diff, "prev_hash": prev_hash}
    return hashlib.sha256(rfc8785.dumps(content)).hexdigest()


async def record(session: AsyncSession | AsyncConnection, *, actor: str, action: str, entity: str,
                 entity_id: Any, diff: Any = None) -> int:
    """Append one chain row in the caller's transaction; returns its seq."""
    diff = jsonable_encoder(diff if diff is not None else {})
    head = (await session.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update())).one_or_none()
    if head is None:  # first write on a fresh database
        await session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h) ON CONFLICT DO NOTHING"),
                              {"h": GENESIS})
        head = (await session.execute(
            select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update())).one()
    seq, prev = head.seq + 1, head.hash
    at = datetime.now(UTC)
    h = _digest(seq, at, actor, action, entity, str(entity_id), diff, prev)
    await session.execute(audit_log.insert().values(seq=seq, at=at, actor=actor, action=action, entity=entity,
                                                    entity_id=str(entity_id), diff=diff, prev_hash=prev, hash=h))
    await session.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=h))
    return seq


@dataclass
class ChainReport:
    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "head_hash": self.head_hash, "first_bad_seq": self.first_bad_seq}


async def verify(conn: AsyncSession | AsyncConnection) -> ChainReport:
    """Walk the chain: each row must follow the previous one and hash to what it says; the head must match."""
    result = await conn.stream(select(audit_log).order_by(audit_log.c.seq))
    expected_seq, prev, count, bad = 1, GENESIS, 0, None
    async for row in result:
        count += 1
        if bad is None:
            recomputed = _digest(row.seq, row.at, row.actor, row.action, row.entity, row.entity_id, row.diff,
                                 row.prev_hash)
            if row.seq != expected_seq:
                bad = min(row.seq, expected_seq)
            elif row.prev_hash != prev or row.hash != recomputed:
                bad = row.seq
        expected_seq, prev = row.seq + 1, row.hash
    head = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))).one_or_none()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if bad is None and (head_seq != expected_seq - 1 or head_hash != prev):
        bad = min(head_seq, expected_seq - 1) + 1 if head_seq != expected_seq - 1 else max(head_seq, 1)
    return ChainReport(ok=bad is None, count=count, head_hash=head_hash, first_bad_seq=bad)



async def list_events(session: AsyncSession, *, service: str, after: int = 0, limit: int = 50,
                      entity: str | None = None, entity_id: str | None = None) -> dict[str, Any]:
    """One page of a chain after ``after``; ``next_after`` is set when more rows follow."""
    q = select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit + 1)
    if entity:
        q = q.where(audit_log.c.entity == entity)
    if entity_id:
        q = q.where(audit_log.c.entity_id == entity_id)
    rows = (await session.execute(q)).mappings().all()
    items = [dict(r, service=service) for r in rows[:limit]]
    return {"items": items, "next_after": rows[limit - 1]["seq"] if len(rows) > limit else None}


def internal_router() -> APIRouter:
    """``/internal/audit/*`` for the audit API in funds (service tokens only)."""
    router = APIRouter(prefix="/internal/audit", include_in_schema=False, dependencies=[require_service()])

    @router.get("/verify")
    async def verify_chain(session: SessionDep) -> dict[str, Any]:
        return (await verify(session)).as_dict()

    @router.get("/events")
    async def events(session: SessionDep, request: Request, entity: str | None = Query(None, max_length=64),
                     entity_id: str | None = Query(None, max_length=64), after: int = Query(0, ge=0, le=2**63 - 1),
                     limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return await list_events(session, service=request.app.state.service, after=after, limit=limit,
                                 entity=entity, entity_id=entity_id)

    return router
