"""Rate limits for the public (no login) endpoints: fixed windows counted in Redis, or in this process while
Redis is away. Over a limit is a 429 problem with ``Retry-After`` (seconds to the window's end).

Used by funds' objections (per client address and per notice) and the registry's 一码申报 self-reports.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request

from shared.problems import TooManyRequests

log = logging.getLogger("jingzhun.ratelimit")

REDIS_RETRY_AFTER = 5.0      # after a Redis failure, count locally for this long before trying Redis again
_LOCAL_MAX_KEYS = 100_000


@dataclass(frozen=True)
class Limit:
    count: int
    window: int    # seconds


def _trusted_hop(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Proxies we run (the gateway, an ingress) sit on loopback or private networks."""
    return not ip.is_global


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _bucket_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """IPv6 clients are counted per /64 (one subscriber's prefix), IPv4 per address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def client_address(request: Request) -> str:
    """The address to count a public post against.

    A request that reaches us from a proxy on a private network (the gateway) carries the client in
    ``X-Forwarded-For``; each proxy appends the address it saw, so we take the right-most hop that is
    not one of our own proxies. Entries further left were written by the client and are ignored, so a
    spammer cannot pick a fresh address per post. A request from a public address directly is counted
    against that address, whatever header it sends.
    """
    peer = _parse(request.client.host) if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and (peer is None or _trusted_hop(peer)):
        hops = [ip for ip in (_parse(h) for h in forwarded.split(",")[-32:]) if ip is not None]
        for ip in reversed(hops):
            if not _trusted_hop(ip):
                return _bucket_of(ip)
        if hops:
            return _bucket_of(hops[-1])
    if peer is not None:
        return _bucket_of(peer)
    return (request.client.host if request.client else "unknown")[:64]


class WindowLimiter:
    """Counts hits per named bucket in fixed windows; ``prefix`` separates deployments and uses."""

    def __init__(self, *, prefix: str) -> None:
        self.prefix = prefix
        self._local: dict[str, int] = {}
        self._redis_down_until = 0.0

    async def hit(self, redis, name: str, limit: Limit, message: str) -> None:
        """Count one hit on bucket ``name``; 429 (``TooManyRequests``) beyond ``limit``."""
        now = time.time()
        window_index = int(now // limit.window)
        retry_after = max(int((window_index + 1) * limit.window - now), 1)
        key = f"{self.prefix}:{name}:{limit.window}:{window_index}"
        count = await self._count(redis, key, limit.window)
        if count > limit.count:
            raise TooManyRequests(f"{message} (in {retry_after} s)", headers={"Retry-After": str(retry_after)},
                                  retry_after=retry_after)

    async def _count(self, redis, key: str, window: int) -> int:
        if redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, window + 1)
                    count, _ = await pipe.execute()
                return int(count)
            except Exception as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_AFTER
                log.warning("rate limit store unavailable (%s); counting in process", type(exc).__name__)
        return self._count_locally(key)

    def _count_locally(self, key: str) -> int:
        if len(self._local) >= _LOCAL_MAX_KEYS:   # keys name their window: drop the ones that are over
            current = {k: v for k, v in self._local.items() if self._live(k)}
            self._local = current if len(current) < _LOCAL_MAX_KEYS else {}
        self._local[key] = self._local.get(key, 0) + 1
        return self._local[key]

    @staticmethod
    def _live(key: str) -> bool:
        *_, window, index = key.rsplit(":", 2)
        return int(index) >= int(time.time() // int(window))
