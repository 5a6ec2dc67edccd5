"""Partner-bank credentials: created by a county admin, the secret shown once and kept only as a hash."""

from __future__ import annotations

import secrets

from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway import passwords
from services.gateway.banks import repository
from services.gateway.banks.models import BankClient
from services.gateway.banks.schemas import BankClientCreate, BankClientCreated, BankClientRead
from shared import audit
from shared.auth import Principal
from shared.pagination import decode_cursor, page
from shared.problems import Forbidden


def to_read(client: BankClient) -> BankClientRead:
    return BankClientRead(id=client.id, client_id=client.client_id, name=client.name, bank_code=client.bank_code,
                          region_code=client.region_code, active=client.active, created_at=client.created_at)


async def create(*, session: AsyncSession, principal: Principal, client_in: BankClientCreate) -> BankClientCreated:
    if not principal.covers(client_in.region_code):
        raise Forbidden("A bank client's region must lie inside your own")
    secret = passwords.new_secret()
    client = BankClient(client_id=f"bank-{client_in.bank_code.lower()}-{secrets.token_hex(6)}",
                        secret_hash=passwords.hash_secret(secret), name=client_in.name,
                        bank_code=client_in.bank_code, region_code=client_in.region_code, created_by=principal.sub)
    await repository.add(session, client)
    await audit.record(session, actor=principal.sub, action="bank_client.create", entity="bank_client",
                       entity_id=client.id, diff={"client_id": client.client_id, "name": client.name,
                                                  "bank_code": client.bank_code, "region_code": client.region_code})
    return BankClientCreated(**to_read(client).model_dump(), client_secret=secret)


async def authenticate(*, session: AsyncSession, client_id: str, client_secret: str) -> BankClient | None:
    client = await by_client_id(session, client_id)
    ok = passwords.secret_matches(client.secret_hash if client else None, client_secret)
    return client if ok and client.active else None


async def by_client_id(session: AsyncSession, client_id: str) -> BankClient | None:
    if not client_id or len(client_id) > 64 or "\x00" in client_id:
        return None
    return await repository.by_client_id(session, client_id)


async def list_in_scope(*, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
                        ) -> tuple[list[BankClient], str | None]:
    """The clients whose region lies inside the principal's, oldest first, a page at a time (CONTRACT §2)."""
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    rows = await repository.readable(session, principal=principal, after=after, limit=limit + 1)
    return page(rows, limit, lambda c: {"id": c.id})
