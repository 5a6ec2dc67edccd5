"""Idempotency-Key: the same key and body replays the first answer; another body is 409.

The key is claimed by an INSERT in the request's own transaction, so a concurrent retry waits on the
row until the first request commits and then replays its answer; a rolled-back request frees the key.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import rfc8785
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.problems import BadRequest, Conflict
from shared.tables import idempotency_keys



_SAFE_INT = 2**53 - 1


def _json_safe(value: Any) -> Any:
    """Canonical JSON holds integers only up to 2**53 - 1 (an id in the path may be larger): larger ones as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > _SAFE_INT:
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value

class Idempotency:
    def __init__(self, key: str | None, request: Request) -> None:
        self.key = key
        self.request = request
        self.owner: str | None = None

    async def replay(self, session: AsyncSession, *, owner: str, body: Any) -> JSONResponse | None:
        """Claim the key, or return the stored answer of the request that claimed it first."""
        if self.key is None:
            return None
        self.owner = owner
        request_hash = hashlib.sha256(
            self.request.method.encode() + self.request.url.path.encode() +
            rfc8785.dumps(_json_safe(jsonable_encoder(body)))).hexdigest()
        claimed = (await session.execute(
            pg_insert(idempotency_keys).values(owner=owner, key=self.key, request_hash=request_hash)
            .on_conflict_do_nothing().returning(idempotency_keys.c.key))).first()
        if claimed:
            return None
        prior = (await session.execute(select(idempotency_keys).where(
            idempotency_keys.c.owner == owner, idempotency_keys.c.key == self.key))).one()
        if prior.request_hash != request_hash:
            raise Conflict("Idempotency-Key was already used with another request", slug="idempotency-key-reused")
        if prior.status_code is None:
            raise Conflict("A request with this Idempotency-Key is still being processed", slug="idempotency-in-flight")
        return JSONResponse(prior.response, status_code=prior.status_code, headers={"Idempotent-Replayed": "true"})

    async def save(self, session: AsyncSession, *, status_code: int, response: Any) -> None:
        if self.key is None or self.owner is None:
            return
        await session.execute(update(idempotency_keys).where(
            idempotency_keys.c.owner == self.owner, idempotency_keys.c.key == self.key)
            .values(status_code=status_code, response=jsonable_encoder(response)))


def _key(request: Request, idempotency_key: Annotated[str | None, Header(max_length=255)] = None) -> Idempotency:
    if idempotency_key is not None and (not idempotency_key.strip() or "\x00" in idempotency_key):
        raise BadRequest("Idempotency-Key must be a non-empty string")
    return Idempotency(idempotency_key, request)


def _required_key(request: Request, idempotency_key: Annotated[str, Header(max_length=255)]) -> Idempotency:
    return _key(request, idempotency_key)


IdempotencyDep = Annotated[Idempotency, Depends(_key)]
RequiredIdempotencyDep = Annotated[Idempotency, Depends(_required_key)]
