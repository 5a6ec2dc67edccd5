"""The hash-chained audit log: written in the writer's transaction, linked after commit, verified end to end.

A write appends a row to ``audit_pending`` (no lock, so concurrent writers commit together); the sealer takes the
chain head's row lock and moves committed rows into ``audit_log`` with their seq and hashes, in commit order. It
runs in the writing process right after the commit, in every worker every few seconds, and before every read of the
chain (verify, events), so a reader always sees every committed row chained. A request or an event answers
only once its rows are chained (``sealed``), so a row is unchained only for the moment between its commit and its
sealing (milliseconds); from then on any edit breaks the chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from shared.auth import require_service
from shared.db import SessionDep, driver, to_json
from shared.tables import GENESIS, audit_head, audit_log

log = logging.getLogger("jingzhun.audit")


def _digest(seq: int, at: datetime, actor: str, action: str, entity: str, entity_id: str, diff: Any,
            prev_hash: str) -> str:
    content = {"seq": seq, "at": at.astimezone(UTC).isoformat(), "actor": actor, "action": action,
               "entity": entity, "entity_id": entity_id, "diff": diff, "prev_hash": prev_hash}
    return hashlib.sha256(rfc8785.dumps(content)).hexdigest()


PENDING = ("INSERT INTO audit_pending (at, actor, action, entity, entity_id, diff) "
           "VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)")


async def record(session: AsyncSession, *, actor: str, action: str, entity: str, entity_id: Any,
                 diff: Any = None) -> None:
    """Append one audit row in the caller's transaction. It takes no lock: once the transaction commits, the
    sealer links it into the chain (in this process at once, else at the next read or sweep)."""
    await (await driver(session)).execute(
        PENDING, datetime.now(UTC), actor, action, entity, str(entity_id), to_json(diff if diff is not None else {}))
    bind = session.sync_session.get_bind()
    session.sync_session.info[_ENGINE] = getattr(bind, "engine", bind)      # the sync Engine behind the session


SEAL_BATCH = 5_000


async def seal(session: AsyncSession | AsyncConnection, *, limit: int = SEAL_BATCH) -> int:
    """Link up to ``limit`` committed pending rows into the chain, oldest first, in the caller's transaction;
    returns how many. Sealers take turns on the head row, so the chain stays linear whoever seals."""
    head = (await session.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update())).one_or_none()
    if head is None:  # first seal on a fresh database
        await session.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h) ON CONFLICT DO NOTHING"),
                              {"h": GENESIS})
        head = (await session.execute(
            select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update())).one()
    rows = sorted((await session.execute(text(
        "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT :n) "
        "RETURNING id, at, actor, action, entity, entity_id, diff"), {"n": limit})).all(), key=lambda r: r.id)
    if not rows:
        return 0
    seq, prev, chained = head.seq, head.hash, []
    for r in rows:
        seq += 1
        h = _digest(seq, r.at, r.actor, r.action, r.entity, r.entity_id, r.diff, prev)
        chained.append({"seq": seq, "at": r.at, "actor": r.actor, "action": r.action, "entity": r.entity,
                        "entity_id": r.entity_id, "diff": r.diff, "prev_hash": prev, "hash": h})
        prev = h
    await session.execute(audit_log.insert(), chained)
    await session.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
    return len(rows)


async def seal_all(session: AsyncSession | AsyncConnection) -> int:
    total = 0
    while (n := await seal(session)) == SEAL_BATCH:
        total += n
    return total + n


async def sweep(engine: AsyncEngine) -> int:
    """Seal whatever is pending, each batch in its own transaction (a worker's sweep, or after a commit)."""
    total = 0
    while True:
        async with engine.begin() as conn:
            n = await seal(conn)
        total += n
        if n < SEAL_BATCH:
            return total


SWEEP_SECONDS = 5.0


async def sweep_forever(engine: AsyncEngine, every: float = SWEEP_SECONDS) -> None:
    """A worker's backstop: rows whose writer died between its commit and its sealing are chained within seconds."""
    while True:
        try:
            await sweep(engine)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database away: try again next round
            log.warning("audit sweep failed (%s)", exc)
        await asyncio.sleep(every)


class _Sealer:
    """One per engine and process: runs :func:`sweep` in rounds after commits that wrote audit rows. A commit waits
    for the first round that starts after it (the running one may have read the pending rows before the commit), and
    every commit meanwhile shares that round; a commit never waits for the sealer to fall idle."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.running: asyncio.Task | None = None
        self.next: asyncio.Task | None = None       # the round that starts when the running one ends

    def kick(self) -> asyncio.Task:
        """The round that will chain the rows of a commit just made."""
        if self.next is None:
            before = self.running if self.running is not None and not self.running.done() else None
            self.next = asyncio.get_running_loop().create_task(self._round(before))
        return self.next

    async def _round(self, before: asyncio.Task | None) -> None:
        if before is not None:
            await asyncio.wait([before])
        self.running, self.next = asyncio.current_task(), None          # later commits wait for the next round
        try:
            await sweep(self.engine)
        except Exception as exc:  # the rows stay pending: the next commit, read or sweep seals them
            log.warning("audit sealing failed (%s); the rows stay pending", exc)

    async def settle(self) -> None:
        for task in (self.next, self.running):
            if task is not None and not task.done():
                await asyncio.wait([task])


_ENGINE = "jingzhun.audit.engine"
_KICKED = "jingzhun.audit.kicked"
_sealers: weakref.WeakKeyDictionary[Any, _Sealer] = weakref.WeakKeyDictionary()


def _sealer(engine: Engine) -> _Sealer:
    if (sealer := _sealers.get(engine)) is None:
        sealer = _sealers[engine] = _Sealer(AsyncEngine(engine))
    return sealer


@event.listens_for(Session, "after_commit")
def _after_commit(sync_session: Session) -> None:
    if (engine := sync_session.info.pop(_ENGINE, None)) is not None:
        try:
            sync_session.info[_KICKED] = _sealer(engine).kick()
        except RuntimeError:  # no running loop (a synchronous caller): the next read or sweep seals
            return


async def sealed(session: AsyncSession) -> None:
    """After a commit that wrote audit rows, wait until they are chained (a request answers only then, so whoever
    reads the chain after the answer finds the write in it). Other writes' rows are chained in the same round."""
    if (round_ := session.sync_session.info.pop(_KICKED, None)) is not None:
        await asyncio.wait([round_])


@event.listens_for(Session, "after_rollback")
def _after_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_ENGINE, None)


async def settle(engine: AsyncEngine) -> None:
    """Wait for this process's sealing of ``engine`` to finish (before the engine is disposed)."""
    if (sealer := _sealers.get(engine.sync_engine)) is not None:
        await sealer.settle()


@dataclass
class ChainReport:
    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "head_hash": self.head_hash, "first_bad_seq": self.first_bad_seq}


async def verify(conn: AsyncSession | AsyncConnection) -> ChainReport:
    """Walk the chain (after sealing what is pending): each row must follow the previous one and hash to what it
    says; the head must match."""
    await seal_all(conn)
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
    """One page of a chain after ``after`` (after sealing what is pending); ``next_after`` is set when more rows
    follow."""
    await seal_all(session)
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
