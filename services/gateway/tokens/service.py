"""OAuth2 grants: password (staff), client_credentials (partner banks), refresh_token (rotating).

Refresh tokens are opaque random strings stored as SHA-256; each is used once and replaced by the next
of its family. Presenting a used or revoked one is treated as theft: the whole family is revoked,
including the access tokens it issued that are still alive.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway import passwords
from services.gateway.banks import service as banks
from services.gateway.banks.models import BankClient
from services.gateway.tokens import revocation
from services.gateway.tokens.models import RefreshToken
from services.gateway.tokens.schemas import TokenResponse
from services.gateway.users import service as users
from services.gateway.users.models import User
from shared import audit
from shared.auth import Principal, Role
from shared.jwt import Signer
from shared.problems import Unauthorized
from shared.settings import Settings


class InvalidGrant(Unauthorized):
    slug, title, title_zh = "invalid-grant", "Invalid credentials", "账号或密码不对"

    def __init__(self, detail: str, *, error: str = "invalid_grant") -> None:
        super().__init__(detail, error=error)


@dataclass
class FamilyRevoked(Exception):
    """A refresh token was replayed; its family is revoked (commit, then answer 401)."""

    family: uuid.UUID
    revoked_access: list[tuple[str, int]] = field(default_factory=list)


def claims_for_user(user: User) -> dict[str, Any]:
    return {"sub": str(user.id), "role": user.role, "region": user.region_code}


def claims_for_client(client: BankClient) -> dict[str, Any]:
    return {"sub": client.client_id, "role": Role.bank.value, "region": client.region_code, "bank": client.bank_code}


async def issue(*, session: AsyncSession, signer: Signer, settings: Settings, kind: str, claims: dict[str, Any],
                family: uuid.UUID | None = None) -> TokenResponse:
    access, full = signer.sign(claims, ttl=settings.access_token_ttl)
    refresh = passwords.new_secret()
    now = datetime.now(UTC)
    session.add(RefreshToken(token_hash=passwords.hash_secret(refresh), family=family or uuid.uuid4(), kind=kind,
                             sub=str(claims["sub"]), access_jti=full["jti"],
                             access_exp=datetime.fromtimestamp(full["exp"], UTC),
                             expires_at=now + timedelta(seconds=settings.refresh_token_ttl)))
    await session.flush()
    return TokenResponse(access_token=access, expires_in=settings.access_token_ttl, refresh_token=refresh)


async def password_user(*, session: AsyncSession, username: str, password: str) -> User:
    user = await users.find_by_username(session, username)
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        raise InvalidGrant("Wrong username or password")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        session.add(user)
    return user


async def bank_client(*, session: AsyncSession, client_id: str, client_secret: str) -> BankClient:
    client = await banks.authenticate(session=session, client_id=client_id, client_secret=client_secret)
    if client is None:
        raise InvalidGrant("Unknown client or wrong secret", error="invalid_client")
    return client


async def revoke_family(session: AsyncSession, *, family: uuid.UUID, actor: str, reason: str
                        ) -> list[tuple[str, int]]:
    """Revoke every refresh token of a family and its still-valid access tokens; returns (jti, exp) revoked."""
    now = datetime.now(UTC)
    rows = (await session.execute(
        update(RefreshToken).where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now).returning(RefreshToken.sub, RefreshToken.access_jti, RefreshToken.access_exp))).all()
    live = [(r.access_jti, int(r.access_exp.timestamp()), r.sub) for r in rows if r.access_exp > now]
    for jti, exp, sub in live:
        await revocation.store(session, jti=jti, sub=sub, exp=exp)
    if rows:
        await audit.record(session, actor=actor, action="token.family_revoke", entity="token_family",
                           entity_id=family, diff={"reason": reason, "refresh_tokens": len(rows),
                                                   "access_tokens": [j for j, _, _ in live]})
    return [(jti, exp) for jti, exp, _ in live]


async def refresh(*, session: AsyncSession, signer: Signer, settings: Settings, token: str) -> TokenResponse:
    row = await session.scalar(select(RefreshToken).where(
        RefreshToken.token_hash == passwords.hash_secret(token)).with_for_update())
    if row is None:
        raise InvalidGrant("Unknown refresh token")
    now = datetime.now(UTC)
    if row.used_at is not None or row.revoked_at is not None:
        revoked = await revoke_family(session, family=row.family, actor=row.sub, reason="refresh token reused")
        raise FamilyRevoked(row.family, revoked)
    if row.expires_at <= now:
        raise InvalidGrant("Refresh token has expired")
    row.used_at = now
    session.add(row)
    if row.kind == "user":
        user = await session.get(User, int(row.sub))
        if user is None or not user.active:
            raise InvalidGrant("The account is no longer active")
        claims = claims_for_user(user)
    else:
        client = await banks.by_client_id(session, row.sub)
        if client is None or not client.active:
            raise InvalidGrant("The client is no longer active", error="invalid_client")
        claims = claims_for_client(client)
    return await issue(session=session, signer=signer, settings=settings, kind=row.kind, claims=claims,
                       family=row.family)


async def logout(*, session: AsyncSession, principal: Principal) -> list[tuple[str, int]]:
    """Revoke the caller's access token and the refresh family it came from; returns (jti, exp) to mirror."""
    await revocation.store(session, jti=principal.jti, sub=principal.sub, exp=principal.exp)
    revoked = [(principal.jti, principal.exp)]
    family = await session.scalar(select(RefreshToken.family).where(RefreshToken.access_jti == principal.jti))
    if family is not None:
        await session.execute(update(RefreshToken).where(RefreshToken.family == family,
                                                         RefreshToken.revoked_at.is_(None))
                              .values(revoked_at=datetime.now(UTC)))
    await audit.record(session, actor=principal.sub, action="auth.logout", entity="token", entity_id=principal.jti,
                       diff={"exp": principal.exp, "refresh_family": str(family) if family else None})
    return revoked


async def revoke_subject(session: AsyncSession, *, sub: str, actor: str, reason: str) -> list[tuple[str, int]]:
    """Revoke every session of a user or client (deactivation); returns (jti, exp) to mirror."""
    families = (await session.execute(select(RefreshToken.family).where(
        RefreshToken.sub == sub, RefreshToken.revoked_at.is_(None)).distinct())).scalars().all()
    revoked: list[tuple[str, int]] = []
    for family in families:
        revoked += await revoke_family(session, family=family, actor=actor, reason=reason)
    return revoked
