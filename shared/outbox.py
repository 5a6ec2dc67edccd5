"""Transactional outbox: events are rows written with the change, relayed to arq queues, consumed once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared import queue
from shared.db import driver, to_json
from shared.settings import Settings

log = logging.getLogger("jingzhun.outbox")
CHANNEL = "jingzhun_outbox"


async def emit(session: AsyncSession, *, topic: str, payload: dict[str, Any], to: Sequence[str],
               event_id: uuid.UUID | None = None) -> uuid.UUID:
    """Write an event for the services in ``to``; it leaves only if the caller's transaction commits."""
    event_id = event_id or uuid.uuid4()
    await (await driver(session)).execute(
        "WITH e AS (INSERT INTO outbox (event_id, topic, destinations, payload) "
        "VALUES ($1, $2, $3, $4::text::jsonb) RETURNING 1) SELECT pg_notify($5, '') FROM e",
        event_id, topic, list(to), to_json(payload), CHANNEL)
    return event_id


def envelope(row: Any, source: str) -> dict[str, Any]:
    return {"event_id": str(row.event_id), "topic": row.topic, "source": source, "payload": row.payload,
            "occurred_at": row.created_at.astimezone(UTC).isoformat()}


JOB_EVENTS = 100            # events per queue job: a consumer applies them in one transaction
RESEND_WINDOW = 120.0       # seconds: rows relayed this shortly before a Redis restart are relayed again


class Relay:
    """Moves unsent outbox rows to each destination's queue and marks them sent.

    Wakes on NOTIFY and polls as a fallback; on a Redis failure the rows stay unsent and are retried. Redis writes
    its append-only file once a second, so a Redis that was killed may come back without the last jobs it took:
    when the relay sees a new Redis (another ``run_id``), it relays again what it sent shortly before that Redis
    started (:meth:`resend_after_restart`); arq ignores the jobs it still has (same job ids) and consumers the
    events they applied.
    """

    def __init__(self, *, settings: Settings, service: str, sessionmaker, redis=None, batch: int = 200,
                 poll_seconds: float = 1.0, resend_window: float = RESEND_WINDOW) -> None:
        self.settings, self.service, self.sessionmaker = settings, service, sessionmaker
        self.redis, self.batch, self.poll_seconds = redis, batch, poll_seconds
        self.resend_window = resend_window
        self._wake = asyncio.Event()
        self._redis_run: str | None = None
        self._checked_at = 0.0

    async def relay_once(self) -> int:
        """Deliver one batch; returns how many events were delivered. Raises when Redis is unreachable."""
        async with self.sessionmaker() as session:
            rows = (await session.execute(text(
                "SELECT id, event_id, topic, destinations, payload, created_at FROM outbox "
                "WHERE sent_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"), {"n": self.batch})).all()
            if not rows:
                return 0
            try:
                if self.redis is None:
                    self.redis = await queue.connect(self.settings)
                await self._enqueue(rows)
            except Exception as exc:
                await session.rollback()
                async with self.sessionmaker() as s2:
                    await s2.execute(text("UPDATE outbox SET attempts = attempts + 1, last_error = :e "
                                          "WHERE id = ANY(:ids)"), {"e": str(exc)[:500], "ids": [r.id for r in rows]})
                    await s2.commit()
                raise
            await session.execute(text("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 "
                                       "WHERE id = ANY(:ids)"), {"ids": [r.id for r in rows]})
            await session.commit()
            return len(rows)

    async def resend_after_restart(self) -> int:
        """If Redis restarted since we last looked, relay again the rows sent to it shortly before; returns how
        many jobs Redis did not have any more."""
        if self.redis is None:
            self.redis = await queue.connect(self.settings)
        info = await self.redis.info("server")
        run_id = str(info.get("run_id") or "")
        if run_id == self._redis_run:
            return 0
        self._redis_run = run_id
        uptime = float(info.get("uptime_in_seconds") or 0)
        if uptime >= self.resend_window:
            return 0
        async with self.sessionmaker() as session:
            rows = (await session.execute(text(
                "SELECT id, event_id, topic, destinations, payload, created_at FROM outbox "
                "WHERE sent_at > now() - make_interval(secs => :window) "
                "AND sent_at < now() - make_interval(secs => :uptime) ORDER BY id"),
                # Redis counts its uptime in whole seconds of the clock: it may have started up to a second later
                {"window": self.resend_window, "uptime": max(0.0, uptime - 2)})).all()
        again = await self._enqueue(rows)
        if again:
            log.warning("Redis restarted and lost %d event job(s) of %s relayed shortly before: relayed again",
                        again, self.service)
        return again

    async def _enqueue(self, rows: Sequence[Any]) -> int:
        """One job per destination and run of up to ``JOB_EVENTS`` rows (in outbox order); returns how many jobs
        Redis did not have yet. A run of one goes as a single event job."""
        by_dest: dict[str, list[Any]] = {}
        for row in rows:
            for dest in row.destinations:
                by_dest.setdefault(dest, []).append(row)
        new = 0
        for dest, dest_rows in by_dest.items():
            name = queue.queue_name(self.settings, dest)
            for i in range(0, len(dest_rows), JOB_EVENTS):
                run = dest_rows[i:i + JOB_EVENTS]
                if len(run) == 1:
                    new += await queue.enqueue(self.redis, queue=name, function=queue.EVENT_JOB,
                                               args=(envelope(run[0], self.service),),
                                               job_id=f"{run[0].event_id}:{dest}")
                else:
                    ids = hashlib.sha256(b"".join(r.event_id.bytes for r in run)).hexdigest()[:32]
                    new += await queue.enqueue(self.redis, queue=name, function=queue.EVENTS_JOB,
                                               args=([envelope(r, self.service) for r in run],),
                                               job_id=f"events:{ids}:{dest}")
        return new

    async def drain(self) -> int:
        total = 0
        while n := await self.relay_once():
            total += n
        return total

    async def run(self) -> None:
        """Relay forever (in a worker); backs off while Redis is down."""
        listener = asyncio.create_task(self._listen())
        backoff = 0.5
        try:
            while True:
                try:
                    if time.monotonic() - self._checked_at >= self.poll_seconds:
                        await self.resend_after_restart()
                        self._checked_at = time.monotonic()
                    await self.drain()
                    backoff = 0.5
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    except TimeoutError:
                        pass
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis or database away: keep the rows, try again later
                    log.warning("outbox relay for %s failed (%s); retrying in %.1fs", self.service, exc, backoff)
                    self.redis = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10)
        finally:
            listener.cancel()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.sessionmaker() as session:
                    conn = await session.connection()
                    raw = (await conn.get_raw_connection()).driver_connection
                    await raw.add_listener(CHANNEL, lambda *_: self._wake.set())
                    while True:
                        await asyncio.sleep(3600)
            except asyncio.CancelledError:
                raise
            except Exception:  # reconnect after a database blip
                await asyncio.sleep(1)


async def consume_once(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Claim an event in the consumer's transaction; False if it was already handled."""
    return await (await driver(session)).fetchval(
        "INSERT INTO processed_events (event_id, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        uuid.UUID(event["event_id"]), event["topic"]) is not None


