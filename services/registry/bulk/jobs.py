"""Import jobs: created by the upload (with an outbox event, so a Redis outage delays the job but never loses
it), run by the registry worker when the event arrives, polled by the client.

A job runs at most once to its end: the worker claims it (``queued``/``running`` → ``running``), the import's
batches commit as they are loaded, the job's final state and the audit row commit at the end, a redelivered event
finds it ``done`` or ``failed`` and does nothing. Progress is written on separate, autocommitted statements. A
worker that dies mid-import leaves whole households of the batches already loaded; the event is delivered again
and the job runs again (at most :data:`MAX_ATTEMPTS` times), matching those and creating the rest.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.bulk.pipeline import (
    CONNECTIONS,
    MAX_STORED_ERRORS,
    FileRejected,
    Outcome,
    gc_paused,
    import_content,
    read,
)
from services.registry.bulk.zh import KEPT
from services.registry.households.scope import Scope, bounds
from shared import outbox, pii, queue
from shared.db import Database
from shared.settings import Settings

log = logging.getLogger("jingzhun.registry.imports")

TOPIC = "import.requested"
MAX_ATTEMPTS = 3
WRITE_ATTEMPTS = 3
PROGRESS_SECONDS = 0.5
IMPORTS_AT_ONCE = 2       # per worker process: an import keeps both cores busy, more at once would only share them
# the worker's counters behind /metrics (rows/s = rate of rows / rate of seconds)
COUNTERS = {"import_rows": "household import rows processed", "import_seconds": "seconds spent running imports"}
Count = Callable[[Mapping[str, float]], Awaitable[None]]


async def create(session: AsyncSession, *, scope: Scope, region_code: str, filename: str, content: bytes,
                 kind: str = "households", topic: str = TOPIC) -> uuid.UUID:
    """Store the job (with the file) and its event, in the request's transaction. Other kinds of file job
    (部门筛查 screenings) name their own ``kind`` and ``topic``, whose handler calls :func:`run` with its runner."""
    job_id = uuid.uuid4()
    await session.execute(text(
        "INSERT INTO import_job (id, kind, status, region_code, created_by, role, filename, size, content) "
        "VALUES (:id, :kind, 'queued', :region, :actor, :role, :filename, :size, :content)"),
        {"id": job_id, "kind": kind, "region": region_code, "actor": scope.actor, "role": scope.role,
         "filename": filename, "size": len(content), "content": content})
    await outbox.emit(session, topic=topic, payload={"job_id": str(job_id)}, to=["registry"])
    return job_id


JOB_COLUMNS = ("id, kind, status, region_code, created_by, filename, size, total, done, errors, errors_total, "
               "summary, message, created_at, started_at, finished_at")


async def get(session: AsyncSession, job_id: uuid.UUID) -> Mapping[str, Any] | None:
    return (await session.execute(text(f"SELECT {JOB_COLUMNS} FROM import_job WHERE id = :id"),
                                  {"id": job_id})).mappings().first()


def body(job: Mapping[str, Any], say: Callable[[str], str] = str) -> dict[str, Any]:
    """The job as answered; ``say`` puts its messages (kept in English) in the reader's language."""
    def iso(v):
        return v.isoformat() if v is not None else None
    said = functools.lru_cache(maxsize=None)(say)          # the same message on many rows: translated once
    return {"job_id": str(job["id"]), "kind": job["kind"], "status": job["status"], "total": job["total"],
            "done": job["done"], "errors": [{**e, "msg": said(e["msg"])} for e in job["errors"]],
            "errors_total": job["errors_total"], "errors_truncated": job["errors_total"] > len(job["errors"]),
            "summary": job["summary"], "message": said(job["message"]) if job["message"] else job["message"],
            "filename": job["filename"], "size": job["size"],
            "region_code": job["region_code"].strip(), "created_by": job["created_by"],
            "created_at": iso(job["created_at"]), "started_at": iso(job["started_at"]),
            "finished_at": iso(job["finished_at"])}


def scope_for_job(job: Mapping[str, Any]) -> Scope:
    """The importer's scope, as it was when they uploaded (cadre roles only may upload)."""
    lo, hi = bounds(job["region_code"].strip())
    return Scope(lo=lo, hi=hi, helper=None, full_pii=True, actor=job["created_by"], role=job["role"])


def sorted_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order: dict[Any, int] = {}
    for e in errors:
        order.setdefault(e.get("sheet"), len(order))
    return sorted(errors, key=lambda e: (order[e.get("sheet")], e["row"]))


class Ticker:
    """Writes (total, done) of a running job at most every PROGRESS_SECONDS, on its own autocommit statements, and
    adds the rows done and seconds spent to the worker's counters (``count``) as it goes."""

    def __init__(self, pool: asyncpg.Pool, job_id: uuid.UUID, count: Count | None = None) -> None:
        self.pool, self.job_id, self.count = pool, job_id, count
        self.total = self.done = 0
        self._written = (-1, -1)
        self._last = 0.0
        self._counted, self._counted_at = 0, time.monotonic()

    async def __call__(self, total: int, done: int) -> None:
        self.total, self.done = total, done
        if time.monotonic() - self._last >= PROGRESS_SECONDS:
            await self.flush()

    def reading(self, rows: int) -> None:
        """While the file is read (from the reading thread): the rows found so far are the total so far."""
        self.total = rows

    async def flush(self) -> None:
        if (self.total, self.done) == self._written:
            return
        self._written = (self.total, self.done)
        self._last = time.monotonic()
        await self.pool.execute("UPDATE import_job SET total = $2, done = $3 WHERE id = $1 AND status = 'running'",
                                self.job_id, self.total, self.done)

    async def tally(self) -> None:
        """Rows done and seconds spent since the last tally, to the counters (best effort, never raises)."""
        if self.count is None:
            return
        now = time.monotonic()
        rows, seconds = max(0, self.done - self._counted), now - self._counted_at
        self._counted, self._counted_at = max(self._counted, self.done), now
        await self.count({"import_rows": rows, "import_seconds": seconds})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - progress is best effort
                pass
            await self.tally()


async def fail(pool: asyncpg.Pool, job_id: uuid.UUID, message: str) -> None:
    await pool.execute("UPDATE import_job SET status = 'failed', message = $2, finished_at = now(), content = NULL "
                       "WHERE id = $1", job_id, message)


async def _finish(session: AsyncSession, job_id: uuid.UUID, outcome: Outcome) -> None:
    errors = sorted_errors(outcome.errors)
    await session.execute(text(
        "UPDATE import_job SET status = 'done', total = :total, done = :total, errors = CAST(:errors AS jsonb), "
        "errors_total = :errors_total, summary = CAST(:summary AS jsonb), finished_at = clock_timestamp(), "
        "content = NULL, "
        "message = :message WHERE id = :id"),
        {"id": job_id, "total": outcome.total, "errors": json.dumps(errors[:MAX_STORED_ERRORS], ensure_ascii=False),
         "errors_total": outcome.errors_total, "summary": json.dumps(outcome.summary()),
         "message": (f"{outcome.households_created} households and {outcome.members_created} members imported; "
                     f"{outcome.rows_failed} rows with errors")})


# per event loop (one per worker process): arq hands each job its own copy of the worker's context
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _import_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(IMPORTS_AT_ONCE)
    return _slots[loop]


Runner = Callable[..., Awaitable[str]]


async def run(*, db: Database, settings: Settings, job_id: uuid.UUID, runner: Runner | None = None,
              count: Count | None = None) -> str | None:
    """Run one job to its end (the worker's job function); returns its final status, None if not to run.

    The event that asked for the job holds a connection of the worker's pool meanwhile, so the import takes its
    own (:data:`CONNECTIONS` of them): however many uploads arrive at once, no import waits on connections held
    by imports waiting in turn. At most :data:`IMPORTS_AT_ONCE` run at a time; the others stay ``queued``.
    ``runner`` (default: the household import) is called as ``runner(pool=, imports=, settings=, job=, content=,
    ticker=)`` and returns the final status, having written it."""
    async with _import_slot():
        imports = Database(settings, "registry", pool_size=CONNECTIONS)
        try:
            return await _claim_and_run(pool=await db.pool(), imports=imports, settings=settings, job_id=job_id,
                                        runner=runner or _run, count=count)
        finally:
            await imports.close()


async def _claim_and_run(*, pool: asyncpg.Pool, imports: Database, settings: Settings, job_id: uuid.UUID,
                         runner: Runner, count: Count | None = None) -> str | None:
    job = await pool.fetchrow(
        "UPDATE import_job SET status = 'running', started_at = coalesce(started_at, now()), "
        "attempts = attempts + 1 WHERE id = $1 AND status IN ('queued', 'running') "
        "RETURNING id, region_code, created_by, role, filename, content, attempts", job_id)
    if job is None:
        return None
    if job["attempts"] > MAX_ATTEMPTS:
        await fail(pool, job_id, "the import stopped unexpectedly several times; " + KEPT)
        return "failed"
    content = bytes(job["content"] or b"")
    ticker = Ticker(pool, job_id, count)
    ticking = asyncio.create_task(ticker.run())
    try:
        return await runner(pool=pool, imports=imports, settings=settings, job=job, content=content,
                            ticker=ticker)
    finally:
        ticking.cancel()
        await ticker.tally()


async def _run(*, pool: asyncpg.Pool, imports: Database, settings: Settings, job: Mapping[str, Any], content: bytes,
               ticker: Ticker) -> str:
    job_id = job["id"]
    cipher = pii.cipher(settings)
    scope = scope_for_job(job)
    try:
        with gc_paused():
            raw = await asyncio.to_thread(read, content, job["filename"], on_rows=ticker.reading)
    except FileRejected as exc:
        await fail(pool, job_id, str(exc))
        return "failed"
    except Exception:  # noqa: BLE001 - a file must never crash the worker
        log.exception("import %s: reading the file failed", job_id)
        await fail(pool, job_id, "the file could not be read; nothing was imported")
        return "failed"
    for attempt in range(WRITE_ATTEMPTS):
        async with imports.sessionmaker() as session:
            try:
                outcome = await import_content(session, content=content, filename=job["filename"], scope=scope,
                                               cipher=cipher, progress=ticker, audit_ref=str(job_id),
                                               raw=raw)
                await _finish(session, job_id, outcome)
                await session.commit()
                ticker.done = outcome.total
                return "done"
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError, IntegrityError):
                # a batch kept colliding with registrations made meanwhile: start again (loaded batches match)
                await session.rollback()
                log.info("import %s: concurrent registration, retrying (%d)", job_id, attempt + 1)
            except FileRejected as exc:
                await session.rollback()
                await fail(pool, job_id, str(exc))
                return "failed"
            except Exception:  # noqa: BLE001
                await session.rollback()
                log.exception("import %s failed", job_id)
                await fail(pool, job_id, "an internal error stopped the import; " + KEPT)
                return "failed"
    await fail(pool, job_id, "the import kept colliding with registrations made at the same time; " + KEPT)
    return "failed"


async def on_import_requested(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """The worker's handler for ``import.requested`` (dispatch applies each event once)."""
    try:
        job_id = uuid.UUID(str((event.get("payload") or {})["job_id"]))
    except (KeyError, TypeError, ValueError):
        return
    redis = ctx.get("redis")
    count = (None if redis is None else
             functools.partial(queue.add_counts, redis, queue.counters_key(ctx["settings"], "registry")))
    await run(db=ctx["db"], settings=ctx["settings"], job_id=job_id, count=count)


HANDLERS = {TOPIC: on_import_requested}
