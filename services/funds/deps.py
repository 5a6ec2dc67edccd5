"""Dependencies the funds routers share."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import exc as sa_exc
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funds.ledger.service import EarmarkViolation
from shared import audit, pii
from shared.db import Database

log = logging.getLogger("jingzhun.funds")


async def _cipher(request: Request) -> pii.PiiCipher:
    return pii.cipher(request.app.state.settings)


# Personal data funds keeps from the registry (heads' phones, 一卡通 accounts, borrowers' ID digests).
CipherDep = Annotated[pii.PiiCipher, Depends(_cipher)]


def _refused_at_commit(exc: BaseException) -> EarmarkViolation | None:
    """The database's own 专款专用 check (it runs at commit) refused an entry across purposes or regions."""
    orig = getattr(exc, "orig", None)
    names = {getattr(e, "constraint_name", None) for e in (orig, getattr(orig, "__cause__", None))}
    if isinstance(exc, sa_exc.IntegrityError) and "ledger_entry_earmark" in names:
        return EarmarkViolation("An entry would move money across purposes, regions or sources")
    return None


def _record_of(request: Request, problem: Any) -> dict[str, Any] | None:
    """The audit record a refusal carries, completed with who asked and for what (the route)."""
    record = getattr(problem, "audit_record", None)
    if record is None:
        return None
    principal = getattr(request.state, "principal", None)
    diff = {"problem": getattr(problem, "slug", None), "reason": getattr(problem, "detail", None),
            "method": request.method, "path": request.url.path} | dict(record.get("diff") or {})
    return {"actor": record.get("actor") or getattr(principal, "sub", None) or "anonymous",
            "action": record.get("action", "ledger.refused"), "entity": record.get("entity", "request"),
            "entity_id": record.get("entity_id", request.url.path), "diff": diff}


async def _keep(db: Database, record: dict[str, Any]) -> None:
    try:
        async with db.sessionmaker() as own:
            async with own.begin():
                await audit.record(own, **record)
            await audit.sealed(own)
    except Exception:       # the refusal still answers 409; the lost record is logged
        log.exception("could not append a refused attempt to the audit chain: %s", record)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the endpoint returns, rolled back on error (as
    ``shared.db.get_session``). A refusal that carries an ``audit_record`` (an ``EarmarkViolation``: who tried to
    spend what on what) changes no money, yet is appended to the audit chain in a transaction of its own, after
    the rollback."""
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            await session.rollback()
            problem = _refused_at_commit(exc) or exc
            if (record := _record_of(request, problem)) is not None:
                await _keep(db, record)
            if problem is not exc:
                raise problem from None
            raise
        await audit.sealed(session)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
