"""Every query on staff accounts; what a caller may read is scoped once here (``shared.scoping``): their own
account, and for the reader roles every account in their region."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, String, cast, or_, select, text, true
from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway.users.models import User
from shared.auth import Principal, Role
from shared.scoping import subtree


def readable_clause(principal: Principal, reader_roles: Collection[Role]) -> ColumnElement[bool]:
    """The accounts ``principal`` may read: a service all, anyone their own, a reader role their region's."""
    if principal.is_service:
        return true()
    own = cast(User.id, String) == principal.sub
    return or_(own, subtree(User.region_code, principal)) if principal.role in reader_roles else own


async def add(session: AsyncSession, user: User) -> User:
    """Insert or update ``user`` (flushed, its generated columns loaded)."""
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


async def username_taken(session: AsyncSession, username: str) -> bool:
    return await session.scalar(select(User.id).where(User.username == username)) is not None


async def readable(session: AsyncSession, *, principal: Principal, reader_roles: Collection[Role], user_id: int
                   ) -> User | None:
    return await session.scalar(select(User).where(User.id == user_id, readable_clause(principal, reader_roles)))


async def listed(session: AsyncSession, *, principal: Principal, region_prefix: str | None, role: str | None,
                 active: bool | None, q: str | None, after: int, limit: int) -> list[User]:
    """The accounts of the caller's region (a service: all) among those of the filters (``q``: in the username or
    the name); whether the caller may list at all is the service's rule."""
    stmt = select(User).where(subtree(User.region_code, principal), User.id > after).order_by(User.id).limit(limit)
    if region_prefix is not None:
        stmt = stmt.where(User.region_code.startswith(region_prefix, autoescape=True))
    if role:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.active == active)
    if q:
        stmt = stmt.where(User.username.contains(q.lower(), autoescape=True)
                          | User.display_name.contains(q, autoescape=True))
    return list((await session.execute(stmt)).scalars().all())


async def any_exists(session: AsyncSession) -> bool:
    return await session.scalar(select(User.id).limit(1)) is not None


async def lock_bootstrap(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('jingzhun.gateway.bootstrap'))"))


async def by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def active_in(session: AsyncSession, *, region_codes: Sequence[str], roles: Sequence[str]) -> list[User]:
    """Active users whose region is one of ``region_codes`` (of ``roles``, when given), by id."""
    stmt = select(User).where(User.region_code.in_(region_codes), User.active.is_(True)).order_by(User.id)
    if roles:
        stmt = stmt.where(User.role.in_(roles))
    return list((await session.execute(stmt)).scalars().all())
