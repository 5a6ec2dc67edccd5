"""Failed-login counting: per username (or client id) and per client IP, in Redis, or in this process
when Redis is away. A fixed window: ``limit`` failures within ``window`` seconds lock the key until the
window ends (429 with ``Retry-After``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shared.problems import TooManyRequests

log = logging.getLogger("jingzhun.gateway.ratelimit")


@dataclass(frozen=True)
class Bucket:
    key: str
    limit: int


class LoginLimiter:
    def __init__(self, *, redis, prefix: str, per_account: int = 10, per_ip: int = 50, window: int = 300) -> None:
        self.redis, self.prefix = redis, f"{prefix}:login-fail:"
        self.per_account, self.per_ip, self.window = per_account, per_ip, window
        self._local: dict[str, tuple[int, float]] = {}   # key -> (failures, window end)

    def buckets(self, *, account: str, ip: str | None) -> list[Bucket]:
        found = [Bucket(f"{self.prefix}acct:{account}", self.per_account)]
        if ip:
            found.append(Bucket(f"{self.prefix}ip:{ip}", self.per_ip))
        return found

    async def check(self, buckets: list[Bucket]) -> None:
        """Raise 429 when any bucket is full."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for b in buckets:
                    pipe.get(b.key)
                    pipe.ttl(b.key)
                got = await pipe.execute()
            state = [(int(got[2 * i] or 0), got[2 * i + 1]) for i in range(len(buckets))]
        except Exception as exc:
            log.warning("rate limit store unavailable (%s); counting in process", type(exc).__name__)
            now = time.monotonic()
            state = []
            for b in buckets:
                count, end = self._local.get(b.key, (0, now))
                state.append((count if end > now else 0, int(end - now) + 1))
        for b, (count, ttl) in zip(buckets, state):
            if count >= b.limit:
                retry = max(int(ttl) if ttl and ttl > 0 else self.window, 1)
                raise TooManyRequests(f"Too many failed sign-in attempts; try again in {retry} seconds",
                                      headers={"Retry-After": str(retry)}, retry_after=retry)

    async def failed(self, buckets: list[Bucket]) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for b in buckets:
                    pipe.set(b.key, 0, ex=self.window, nx=True)
                    pipe.incr(b.key)
                await pipe.execute()
        except Exception:
            now = time.monotonic()
            if len(self._local) > 100_000:
                self._local = {k: v for k, v in self._local.items() if v[1] > now}
            for b in buckets:
                count, end = self._local.get(b.key, (0, now))
                self._local[b.key] = (count + 1, end) if end > now else (1, now + self.window)

    async def succeeded(self, bucket: Bucket) -> None:
        self._local.pop(bucket.key, None)
        try:
            await self.redis.delete(bucket.key)
        except Exception:
            pass
