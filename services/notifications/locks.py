"""One run of a job at a time across every worker: a PostgreSQL advisory lock on a connection of its own.

arq gives each job its own copy of the worker's context, so a flag kept there guards nothing; and a cron
run that lasts longer than its period overlaps the next tick, in this worker or another. The lock lives
in the notifications database instead: ``pg_try_advisory_lock`` on a connection opened for the run and
closed after it. A worker that dies (even SIGKILL) drops that connection, so PostgreSQL releases the
lock at once and the next run may start; nothing waits for a timeout.

The lock is fenced: ``RunLock.pid`` is the backend holding it, and queries that must only run while the
lock is held (the SMS claims) check ``held`` in the same statement, so a run whose lock connection was
lost (a network cut) claims nothing more even if it has not noticed yet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from shared.db import asyncpg_dsn, database_name
from shared.settings import Settings

log = logging.getLogger("jingzhun.notifications.locks")

NAMESPACE = 0x4A5A          # "JZ": the first key of every lock here (the two-key form of advisory locks)
SMS_DELIVERY = 1
PENDING_EVENTS = 2

# True while the run holding :lock_key (the backend :lock_pid) still holds it; for a WHERE clause.
HELD = ("EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = :lock_ns "
        "AND objid = :lock_key AND objsubid = 2 AND pid = :lock_pid AND granted)")


@dataclass(frozen=True)
class RunLock:
    key: int
    pid: int

    def params(self) -> dict[str, int]:
        """The bind parameters of ``HELD``."""
        return {"lock_ns": NAMESPACE, "lock_key": self.key, "lock_pid": self.pid}


@asynccontextmanager
async def exclusive(settings: Settings, key: int) -> AsyncIterator[RunLock | None]:
    """Hold lock ``key`` for the block; ``None`` (at once, no waiting) when another run holds it."""
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "notifications")), timeout=10)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", NAMESPACE, key):
            yield None
            return
        yield RunLock(key, conn.get_server_pid())
    finally:
        # Closing the session releases its advisory locks; a connection that cannot close cleanly is cut.
        try:
            await conn.close(timeout=5)
        except Exception as exc:   # noqa: BLE001 — the lock goes with the connection either way
            log.warning("lock %d: its connection did not close cleanly (%s); cut instead", key, exc)
            conn.terminate()
        except BaseException:
            conn.terminate()
            raise
