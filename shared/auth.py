"""Who is calling: the Principal from a verified access token, roles, region scope, revocation."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from shared import context, regions
from shared.jwt import InvalidToken, Verifier
from shared.problems import Forbidden, ServiceUnavailable, Unauthorized

log = logging.getLogger("jingzhun.auth")

TOKEN_URL = "/api/v1/auth/token"
REVOKED_PREFIX = "jz:revoked:"
REVOKED_CHANNEL = "jz:revoked"      # "<jti> <unix time until which it stays revoked>" per revocation


class Role(StrEnum):
    county_admin = "county_admin"
    township_officer = "township_officer"
    village_cadre = "village_cadre"
    helper = "helper"
    finance_officer = "finance_officer"
    auditor = "auditor"
    bank = "bank"
    service = "service"          # service-to-service calls; never given to a person


ROLE_LABELS = {
    Role.county_admin: "县级管理员", Role.township_officer: "乡镇干部", Role.village_cadre: "村干部",
    Role.helper: "帮扶责任人", Role.finance_officer: "财务人员", Role.auditor: "审计人员", Role.bank: "合作银行",
    Role.service: "系统服务（内部调用）",
}

# Who may create whom: a strictly lower rank; county_admin may also create county_admin.
RANK = {Role.county_admin: 100, Role.finance_officer: 80, Role.auditor: 80, Role.township_officer: 60,
        Role.village_cadre: 40, Role.helper: 20, Role.bank: 0}

PII_ROLES = frozenset({Role.county_admin, Role.township_officer, Role.village_cadre})


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    region: str
    jti: str
    exp: int
    bank: str | None = None

    @property
    def is_service(self) -> bool:
        return self.role is Role.service

    def covers(self, region_code: str) -> bool:
        """True when ``region_code`` is inside this principal's region subtree."""
        if self.is_service:
            return True
        try:
            return regions.covers(self.region, region_code)
        except ValueError:
            return False

    def sees_pii(self, region_code: str) -> bool:
        return (self.role in PII_ROLES and self.covers(region_code)) or self.is_service

    def may_create(self, role: Role, region_code: str) -> bool:
        if role in (Role.service, Role.bank) or not self.covers(region_code):
            return False
        if self.role is Role.county_admin and role is Role.county_admin:
            return regions.level_of(region_code) == "county" and region_code == self.region
        return RANK.get(role, 999) < RANK.get(self.role, -1)


def principal_from_claims(claims: dict) -> Principal:
    try:
        role = Role(claims["role"])
        region = claims.get("region") or ""
        if role is not Role.service:
            regions.validate(region)
        return Principal(sub=str(claims["sub"]), role=role, region=region, jti=str(claims["jti"]),
                         exp=int(claims["exp"]), bank=claims.get("bank"))
    except (KeyError, ValueError, TypeError):
        raise InvalidToken("token claims are incomplete") from None


oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def announce_revoked(redis, items: Iterable[tuple[str, int]]) -> None:
    """What the gateway writes for each revoked (jti, seconds to keep it): the key any service may ask for, and a
    message to every process that keeps the revoked set in memory."""
    now = int(time.time())
    async with redis.pipeline(transaction=False) as pipe:
        for jti, ttl in items:
            pipe.set(REVOKED_PREFIX + jti, 1, ex=ttl)
            pipe.publish(REVOKED_CHANNEL, f"{jti} {now + ttl}")
        await pipe.execute()


class RevokedSet:
    """The revoked jtis, in process: loaded from the Redis keys once subscribed to ``REVOKED_CHANNEL`` (again after
    every reconnection), then kept up to date by its messages. While it is not known to be complete (starting,
    Redis away, the channel silent past ``dead_after``) ``ready`` is False and callers ask Redis (or the gateway)
    per request instead."""

    def __init__(self, redis, *, ping_every: float = 5.0, dead_after: float = 12.0) -> None:
        self.redis = redis
        self.ping_every, self.dead_after = ping_every, dead_after
        self.ready = False
        self._until: dict[str, float] = {}          # jti -> unix time after which the token is dead anyway
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        """Cancel the follower; it also checks ``_stopping`` each second (redis-py may swallow a cancellation
        arriving in the middle of a read)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=3)

    def __contains__(self, jti: str) -> bool:
        until = self._until.get(jti)
        return until is not None and until >= time.time()

    def add(self, jti: str, until: float) -> None:
        if until > self._until.get(jti, 0):
            self._until[jti] = until

    def _message(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        jti, _, until = data.partition(" ")
        try:
            self.add(jti, float(until))
        except ValueError:
            self.add(jti, time.time() + 86400)       # unreadable expiry: keep it a day rather than drop it

    async def _reload(self) -> int:
        now = time.time()
        n = 0
        batch: list[bytes] = []

        async def flush() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.pttl(key)
                ttls = await pipe.execute()
            for key, ttl in zip(batch, ttls, strict=True):
                if ttl != -2:                        # -2: gone meanwhile; -1: no expiry (keep a day)
                    self.add(key.decode()[len(REVOKED_PREFIX):], now + (ttl / 1000 if ttl >= 0 else 86400))
            batch.clear()

        async for key in self.redis.scan_iter(match=REVOKED_PREFIX + "*", count=1000):
            batch.append(key if isinstance(key, bytes) else key.encode())
            n += 1
            if len(batch) >= 500:
                await flush()
        if batch:
            await flush()
        self._prune()
        return n

    def _prune(self) -> None:
        now = time.time()
        for jti in [j for j, until in self._until.items() if until < now]:
            del self._until[jti]

    async def _follow(self) -> None:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(REVOKED_CHANNEL)
            last_seen = last_ping = time.monotonic()
            while not self._stopping:
                message = await pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    last_seen = now
                    if message["type"] == "message":
                        self._message(message["data"])
                    elif message["type"] == "subscribe":     # (re)subscribed: whatever was missed is in the keys
                        self.ready = False
                        await self._reload()
                        self.ready = True
                if now - last_ping >= self.ping_every:
                    await pubsub.ping()
                    last_ping = now
                    self._prune()
                if now - last_seen > self.dead_after:
                    raise ConnectionError("no answer on the revocation channel")
        finally:
            self.ready = False
            try:
                await pubsub.aclose()
            except Exception:
                pass

    async def run(self) -> None:
        """Follow the channel for the life of the process, reconnecting with backoff."""
        delay = 0.1
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocation channel lost (%s); asking Redis per request meanwhile", exc)
            delay = 0.1 if time.monotonic() - started > 30 else min(delay * 2, 5.0)
            await asyncio.sleep(delay)


async def is_revoked(request: Request, jti: str) -> bool:
    return await is_revoked_in(request.app.state, jti)


async def is_revoked_in(state, jti: str) -> bool:
    """From the in-process set when it is complete; else Redis; else the fallback (the gateway's database)."""
    revoked: RevokedSet | None = getattr(state, "revoked", None)
    if revoked is not None and revoked.ready:
        return jti in revoked
    redis = getattr(state, "redis", None)
    if redis is None:
        raise ServiceUnavailable("revocation list unavailable")
    try:
        return bool(await redis.exists(REVOKED_PREFIX + jti))
    except Exception as exc:
        log.warning("revocation check failed: %s", exc)
        fallback = getattr(state, "revocation_fallback", None)
        if fallback is None:
            raise ServiceUnavailable("revocation list unavailable") from None
        return await fallback(jti)


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, exactly as ``oauth2`` (FastAPI's
    OAuth2PasswordBearer without auto_error) reads it; None otherwise. For pure-ASGI hot paths."""
    if not authorization:
        return None
    scheme, _, param = authorization.partition(" ")
    return param.strip() if scheme.lower() == "bearer" else None


async def principal_for(state, token: str | None) -> Principal:
    """The Principal of a bearer token: signature and claims (cached by the verifier), then revocation."""
    if not token:
        raise Unauthorized("Bearer token required")
    verifier: Verifier = state.verifier
    try:
        principal = principal_from_claims(verifier.verify(token))
    except InvalidToken:
        raise Unauthorized("Token is invalid or expired") from None
    if await is_revoked_in(state, principal.jti):
        raise Unauthorized("Token has been revoked")
    context.bearer_token.set(token)
    return principal


async def verify_bearer(request: Request, token: str | None) -> Principal:
    principal = await principal_for(request.app.state, token)
    request.state.principal = principal
    return principal


async def authenticate(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    return await verify_bearer(request, token)


async def authenticate_request(request: Request) -> Principal:
    """``authenticate`` for a one-level dependency on a hot path: the token read here rather than by a
    dependency of its own, so the route declares its security with ``openapi_extra=BEARER``."""
    return await verify_bearer(request, await oauth2(request))


# What ``Depends(oauth2)`` puts in an operation's OpenAPI, for routes that call ``authenticate_request``.
BEARER = {"security": [{oauth2.scheme_name: []}]}


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role):
    """Dependency: the caller must hold one of ``roles`` (service tokens always pass)."""
    allowed = frozenset(roles)

    async def dep(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed and not principal.is_service:
            raise Forbidden("Your role may not do this")
        return principal

    return Depends(dep)


def require_service():
    async def dep(principal: PrincipalDep) -> Principal:
        if not principal.is_service:
            raise Forbidden("internal endpoint")
        return principal

    return Depends(dep)
