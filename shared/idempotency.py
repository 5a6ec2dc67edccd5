"""Idempotency-Key: the same key and body replays the first answer; another body is 409.

A route runs its write through :meth:`Idempotency.once`. The key is claimed by an INSERT in the request's own
transaction, so a concurrent retry waits on the row until the first request commits and then replays its answer;
a rolled-back request frees the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
import rfc8785
from pydantic import BaseModel
from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import driver, to_json
from shared.problems import BadRequest, Conflict



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

REPLAYED = {"Idempotent-Replayed": "true"}
CLAIM = ("INSERT INTO idempotency_keys (owner, key, request_hash) VALUES ($1, $2, $3) "
         "ON CONFLICT DO NOTHING RETURNING true")
ANSWER = "UPDATE idempotency_keys SET status_code = $3, response = $4::text::jsonb WHERE owner = $1 AND key = $2"


def id_only(answer: Response) -> dict[str, Any]:
    """``kept`` for an answer holding personal data: only its id is stored, a retry reads the record again."""
    return {"id": orjson.loads(answer.body)["id"]}


class Idempotency:
    def __init__(self, key: str | None, request: Request) -> None:
        self.key = key
        self.request = request

    async def once(self, session: AsyncSession, *, owner: str, body: Any, act: Callable[[], Awaitable[Any]],
                   status_code: int | Callable[[], int] = 201, kept: Callable[[Any], Any] | None = None,
                   replayed: Callable[[Any, int], Awaitable[Any]] | None = None) -> Any:
        """``act()``'s answer, run once per key and ``body`` (what identifies the request: the body, or a digest of
        it). ``kept`` is what is stored of the answer (all of it by default; only ids where it holds personal data),
        ``replayed`` answers a retry from what was kept (by default the kept JSON again, with its status and
        ``Idempotent-Replayed: true``). ``status_code`` may be read after ``act`` (a route that answers 200 or 201)."""
        if self.key is None:
            return await act()
        prior = await self._claim(session, owner=owner, body=body)
        if prior is not None:
            kept_answer = orjson.loads(prior["response"])
            if replayed is not None:
                return await replayed(kept_answer, prior["status_code"])
            return JSONResponse(kept_answer, status_code=prior["status_code"], headers=REPLAYED)
        answer = await act()
        status = status_code() if callable(status_code) else status_code
        await (await driver(session)).execute(ANSWER, owner, self.key, status,
                                              to_json(kept(answer) if kept else answer))
        return answer

    async def _claim(self, session: AsyncSession, *, owner: str, body: Any) -> Any:
        """Claim the key (None), or the row of the request that claimed it first."""
        request_hash = hashlib.sha256(
            self.request.method.encode() + self.request.url.path.encode() +
            rfc8785.dumps(_json_safe(body.model_dump(mode="json") if isinstance(body, BaseModel)
                                     else jsonable_encoder(body)))).hexdigest()
        conn = await driver(session)
        if await conn.fetchval(CLAIM, owner, self.key, request_hash):
            return None
        prior = await conn.fetchrow("SELECT request_hash, status_code, response::text AS response "
                                    "FROM idempotency_keys WHERE owner = $1 AND key = $2", owner, self.key)
        if prior["request_hash"] != request_hash:
            raise Conflict("Idempotency-Key was already used with another request", slug="idempotency-key-reused")
        if prior["status_code"] is None:
            raise Conflict("A request with this Idempotency-Key is still being processed", slug="idempotency-in-flight")
        return prior


async def _key(request: Request, idempotency_key: Annotated[str | None, Header(max_length=255)] = None) -> Idempotency:
    if idempotency_key is not None and (not idempotency_key.strip() or "\x00" in idempotency_key):
        raise BadRequest("Idempotency-Key must be a non-empty string")
    return Idempotency(idempotency_key, request)


async def _required_key(request: Request, idempotency_key: Annotated[str, Header(max_length=255)]) -> Idempotency:
    return await _key(request, idempotency_key)


IdempotencyDep = Annotated[Idempotency, Depends(_key)]
RequiredIdempotencyDep = Annotated[Idempotency, Depends(_required_key)]
