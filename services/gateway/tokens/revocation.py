"""Revoked access tokens: rows in the gateway database, mirrored as Redis keys (``shared.auth.REVOKED_PREFIX +
jti``, expiring with the token) and announced on ``shared.auth.REVOKED_CHANNEL`` to every process's in-memory
set. When Redis misses a write the mirror is marked dirty and rebuilt from the database in the background; the
gateway itself falls back to its database whenever Redis cannot answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway.tokens.models import RevokedToken
from shared.auth import RevokedSet, announce_revoked

log = logging.getLogger("jingzhun.gateway.revocation")
LEEWAY = 30      # seconds beyond exp (the verifier accepts 10 s of clock skew)


async def store(session: AsyncSession, *, jti: str, sub: str, exp: int) -> None:
    await session.execute(pg_insert(RevokedToken).values(
        jti=jti, sub=sub, exp=datetime.fromtimestamp(exp, UTC)).on_conflict_do_nothing())


async def is_revoked(session: AsyncSession, jti: str) -> bool:
    return await session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None


class Mirror:
    """Keeps Redis in step with the revoked_token table."""

    def __init__(self, *, redis, sessionmaker, local: RevokedSet | None = None) -> None:
        self.redis, self.sessionmaker = redis, sessionmaker
        self.local = local              # this process's set: told at once, not through Redis
        self.dirty = False
        self.listeners: list[Callable[[], None]] = []     # told of every revocation made in this process

    async def push(self, items: Iterable[tuple[str, int]]) -> bool:
        """Set the Redis key of each (jti, exp); on failure remember to resync later. True when pushed."""
        for listener in self.listeners:
            listener()
        now = int(time.time())
        live = [(jti, exp - now + LEEWAY) for jti, exp in items if exp - now + LEEWAY > 0]
        if not live:
            return True
        if self.local is not None:
            for jti, ttl in live:
                self.local.add(jti, now + ttl)
        try:
            await announce_revoked(self.redis, live)
            return True
        except Exception as exc:
            log.warning("could not mirror %d revocation(s) to Redis (%s); will retry", len(live), exc)
            self.dirty = True
            return False

    async def resync(self) -> int:
        """Push every unexpired revocation from the database; returns how many."""
        cutoff = datetime.fromtimestamp(time.time() - LEEWAY, UTC)
        async with self.sessionmaker() as session:
            rows = (await session.execute(select(RevokedToken.jti, RevokedToken.exp)
                                          .where(RevokedToken.exp > cutoff))).all()
        self.dirty = False
        if not await self.push((r.jti, int(r.exp.timestamp())) for r in rows):
            return 0
        return len(rows)

    async def run(self, interval: float = 5.0, prune_every: float = 3600.0) -> None:
        last_prune = float("-inf")
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - last_prune > prune_every:
                last_prune = time.monotonic()
                try:
                    await self.prune()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("pruning expired tokens failed: %s", exc)
            if self.dirty:
                try:
                    n = await self.resync()
                    if not self.dirty:
                        log.info("revocation mirror rebuilt (%d key(s))", n)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.dirty = True
                    log.warning("revocation resync failed: %s", exc)

    async def prune(self) -> None:
        """Forget what can no longer be used: revocations of expired tokens, expired refresh tokens."""
        async with self.sessionmaker() as session:
            await session.execute(text("DELETE FROM revoked_token WHERE exp < now() - interval '1 hour'"))
            await session.execute(text("DELETE FROM refresh_token WHERE expires_at < now() - interval '1 hour'"))
            await session.commit()

    def fallback(self):
        """``app.state.revocation_fallback``: answer from the database when Redis cannot."""
        async def revoked(jti: str) -> bool:
            async with self.sessionmaker() as session:
                return await is_revoked(session, jti)
        return revoked
