"""Dead letters: events a service's consumer kept failing on, for an officer to see and replay.

``shared.worker.dispatch`` retries a failing consumer with backoff; after the last try it writes the event here
(the consuming service's own database, table ``dead_letters``). Every service with a worker mounts
:func:`router`: a county administrator lists them (``GET /api/v1/dead-letters/<service>``) and replays one
(``POST /api/v1/dead-letters/<service>/{id}/replay``): the event goes back on the service's queue under a new job
id and is applied once (the consumer still remembers event ids); the row turns ``resolved`` when it is, and
``dead`` again (with the new error) if it fails through its tries once more.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared import audit, queue
from shared.auth import PrincipalDep, Role, require
from shared.db import Database, SessionDep
from shared.http_types import IdPath, Limit
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.problems import Conflict, NotFound, ServiceUnavailable, problem_responses
from shared.tables import dead_letters

REPLAY = "replay_of"          # in a replayed envelope: the dead letter's id
ERROR_CHARS = 2000


class DeadLetterStatus(StrEnum):
    dead = "dead"              # failed through all its tries; waiting for an officer
    replaying = "replaying"    # put back on the queue by an officer
    resolved = "resolved"      # applied (by a replay)


DEAD_LETTER_STATUS_LABELS = {"dead": "待处理", "replaying": "重新投递中", "resolved": "已处理"}


def describe(exc: BaseException) -> str:
    """The error without SQL text or bound parameters (which may hold personal data)."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {cause}"[:ERROR_CHARS]


async def record(db: Database, event: dict[str, Any], *, error: BaseException, tries: int) -> None:
    """Keep ``event`` as a dead letter (in its own transaction); again for the same event updates the row."""
    values = {"error": describe(error), "tries": tries, "status": DeadLetterStatus.dead.value}
    envelope = {k: v for k, v in event.items() if k != REPLAY}
    async with db.sessionmaker() as session:
        await session.execute(
            pg_insert(dead_letters).values(event_id=uuid.UUID(str(event["event_id"])), topic=str(event["topic"]),
                                           source=str(event.get("source") or ""), event=envelope, **values)
            .on_conflict_do_update(index_elements=[dead_letters.c.event_id],
                                   set_={**values, "failed_at": func.now()}))
        await session.commit()


async def resolved(session: AsyncSession, event: dict[str, Any]) -> None:
    """A replayed event was applied (in the consumer's transaction)."""
    await session.execute(update(dead_letters).where(dead_letters.c.event_id == uuid.UUID(str(event["event_id"])))
                          .values(status=DeadLetterStatus.resolved.value, resolved_at=func.now()))


class DeadLetterRead(BaseModel):
    id: int
    event_id: uuid.UUID
    topic: str
    source: str = Field(description="the service that emitted the event")
    error: str = Field(description="the last failure")
    tries: int = Field(description="runs of the consumer in its last round of retries")
    status: DeadLetterStatus
    created_at: datetime
    failed_at: datetime = Field(description="when it last failed through all its tries")
    replays: int
    replayed_at: datetime | None = None
    replayed_by: str | None = None
    resolved_at: datetime | None = None


def _read(row: Any) -> DeadLetterRead:
    return DeadLetterRead.model_validate(dict(row._mapping))


_COLUMNS = [c for c in dead_letters.c if c.name != "event"]
CursorQuery = Annotated[str | None, Query(max_length=512)]


def _after(cursor: str | None) -> int | None:
    key = decode_cursor(cursor, id=int)
    return None if key is None else key["id"]


def router(service: str) -> APIRouter:
    """``/api/v1/dead-letters/<service>``: county administrators only."""
    r = APIRouter(prefix=f"/api/v1/dead-letters/{service}",
                  dependencies=[require(Role.county_admin)])

    @r.get("", response_model=Page[DeadLetterRead], responses=problem_responses(400, 401, 403, 422),
           summary=f"Events {service} could not apply 死信", operation_id=f"list_dead_letters_{service}")
    async def list_dead_letters(session: SessionDep, status_: Annotated[
            DeadLetterStatus | None, Query(alias="status")] = None, limit: Limit = 50,
            cursor: CursorQuery = None) -> Page[DeadLetterRead]:
        """Newest first. An event lands here after its consumer failed on every try (with backoff); ``error``
        is the last failure. Replay one once its cause is fixed."""
        query = select(*_COLUMNS).order_by(dead_letters.c.id.desc()).limit(limit + 1)
        if (after := _after(cursor)) is not None:
            query = query.where(dead_letters.c.id < after)
        if status_ is not None:
            query = query.where(dead_letters.c.status == status_.value)
        rows = (await session.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=[_read(row) for row in rows],
                    next_cursor=encode_cursor({"id": rows[-1].id}) if more else None)

    @r.get("/{dead_letter_id}", response_model=DeadLetterRead, responses=problem_responses(401, 403, 404, 422),
           summary="One dead letter 死信详情", operation_id=f"get_dead_letter_{service}")
    async def get_dead_letter(dead_letter_id: IdPath, session: SessionDep) -> DeadLetterRead:
        return _read(await _get(session, dead_letter_id))

    @r.post("/{dead_letter_id}/replay", response_model=DeadLetterRead, status_code=status.HTTP_202_ACCEPTED,
            responses=problem_responses(401, 403, 404, 409, 422, 503), summary="Replay a dead letter 重新投递",
            operation_id=f"replay_dead_letter_{service}")
    async def replay_dead_letter(dead_letter_id: IdPath, request: Request, session: SessionDep,
                                 principal: PrincipalDep) -> DeadLetterRead:
        """Puts the event back on the queue (202): the worker applies it once, with its retries, and the dead
        letter becomes ``resolved``, or ``dead`` again with the new error. 409 once it is resolved; 503 while the
        job queue is unreachable."""
        row = await _get(session, dead_letter_id, lock=True)
        if row.status == DeadLetterStatus.resolved:
            raise Conflict("This event has been applied already", slug="dead-letter-resolved")
        settings = request.app.state.settings
        replays = row.replays + 1
        try:
            pool = await queue.connect(settings)
            try:
                await queue.enqueue(pool, queue=queue.queue_name(settings, service), function=queue.EVENT_JOB,
                                    args=({**row.event, REPLAY: row.id},),
                                    job_id=f"{row.event_id}:{service}:replay:{replays}")
            finally:
                await pool.aclose()
        except queue.QUEUE_DOWN:
            raise ServiceUnavailable("The job queue is unreachable; try the replay again shortly",
                                     headers={"Retry-After": "5"}) from None
        changed = (await session.execute(
            update(dead_letters).where(dead_letters.c.id == row.id)
            .values(status=DeadLetterStatus.replaying.value, replays=replays, replayed_at=func.now(),
                    replayed_by=principal.sub).returning(*_COLUMNS))).one()
        await audit.record(session, actor=principal.sub, action="dead_letter.replay", entity="dead_letter",
                           entity_id=row.id, diff={"event_id": str(row.event_id), "topic": row.topic,
                                                   "replays": replays})
        return _read(changed)

    return r


async def _get(session: AsyncSession, dead_letter_id: int, *, lock: bool = False) -> Any:
    query = select(dead_letters).where(dead_letters.c.id == dead_letter_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound("No such dead letter")
    return row
