"""Staff accounts: creation rules, password policy, scoped lookups.

``create_user`` is also what ``jingzhun create-user`` calls; like every service function it only
flushes, the caller commits.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway import passwords
from services.gateway.users import repository
from services.gateway.users.models import User
from services.gateway.users.schemas import UserCreate, UserRead, UserUpdate
from shared import audit, regions
from shared.auth import ROLE_LABELS, Principal, Role
from shared.pagination import decode_cursor, page
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable

log = logging.getLogger("jingzhun.gateway.users")

STAFF_ROLES = frozenset(r for r in Role if r not in (Role.bank, Role.service))
READER_ROLES = frozenset({Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer,
                          Role.auditor})
MIN_PASSWORD = 10


def password_problems(password: str) -> list[str]:
    """What is wrong with a new password (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"password must have at least {MIN_PASSWORD} characters")
    if password.isdigit():
        problems.append("password must not be only digits")
    if password != password.strip() or not password.isprintable():
        problems.append("password must not start or end with spaces or contain control characters")
    return problems


def _check_password(password: str) -> None:
    if found := password_problems(password):
        raise Unprocessable("; ".join(found), errors=[{"loc": ["body", "password"], "msg": m} for m in found])


def mask_phone(phone: str | None) -> str | None:
    if not phone or len(phone) < 7:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def to_read(user: User, viewer: Principal | None = None) -> UserRead:
    """``viewer=None`` (the CLI, the user themself) sees the phone in full; others per their PII rights."""
    full = viewer is None or viewer.sub == str(user.id) or viewer.sees_pii(user.region_code)
    return UserRead(id=user.id, username=user.username, display_name=user.display_name,
                    phone=user.phone if full else mask_phone(user.phone), role=user.role,
                    role_label=ROLE_LABELS.get(Role(user.role), user.role), region_code=user.region_code,
                    active=user.active, created_by=user.created_by, created_at=user.created_at, version=user.version)


async def create_user(session: AsyncSession, *, username: str, password: str, display_name: str, role: str | Role,
                      region_code: str, phone: str | None = None, created_by: str = "system",
                      check_password: bool = True) -> User:
    """Create a staff user (no permission check: callers decide who may). Flushes, audits, does not commit.

    Raises ``Unprocessable`` (422) for a bad field or weak password and ``Conflict`` (409) for a taken username.
    """
    try:
        data = UserCreate(username=username, password=password, display_name=display_name, phone=phone, role=role,
                          region_code=region_code)
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        raise Unprocessable("One or more fields are invalid",
                            errors=[{"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", "")} for e in errors]
                            ) from None
    if data.role not in STAFF_ROLES:
        raise Unprocessable(f"role {data.role} is not for people", errors=[{"loc": ["body", "role"],
                                                                            "msg": "not a staff role"}])
    if check_password:
        _check_password(data.password)
    if await repository.username_taken(session, data.username):
        raise Conflict(f"username {data.username} is taken", slug="username-taken")
    user = User(username=data.username, password_hash=await passwords.hash_password(data.password),
                display_name=data.display_name, phone=data.phone, role=data.role.value,
                region_code=data.region_code, created_by=created_by)
    await repository.add(session, user)
    await audit.record(session, actor=created_by, action="user.create", entity="user", entity_id=user.id,
                       diff={"username": user.username, "display_name": user.display_name, "role": user.role,
                             "region_code": user.region_code, "phone": mask_phone(user.phone)})
    return user


async def create(*, session: AsyncSession, principal: Principal, user_in: UserCreate) -> User:
    """A user creating another: a strictly lower role inside their own region (CONTRACT §3)."""
    if not principal.may_create(user_in.role, user_in.region_code):
        raise Forbidden("You may create only users of a lower role inside your own region")
    return await create_user(session, username=user_in.username, password=user_in.password,
                             display_name=user_in.display_name, phone=user_in.phone, role=user_in.role,
                             region_code=user_in.region_code, created_by=principal.sub)


async def get_visible(*, session: AsyncSession, principal: Principal, user_id: int) -> User:
    """The user, when it is the caller's own account or (for the reader roles) in their region; else 404."""
    user = await repository.readable(session, principal=principal, reader_roles=READER_ROLES, user_id=user_id)
    if user is None:
        raise NotFound("No such user")
    return user


async def list_visible(*, session: AsyncSession, principal: Principal, region: str | None, role: Role | None,
                       q: str | None, active: bool | None, limit: int, cursor: str | None
                       ) -> tuple[list[User], str | None]:
    if principal.role not in READER_ROLES and not principal.is_service:
        raise Forbidden("Your role may not list users")
    region_prefix = None
    if region:
        try:
            region_prefix = regions.prefix(regions.validate(region))
        except ValueError:
            raise Unprocessable("region must be a 12-digit division code",
                                errors=[{"loc": ["query", "region"], "msg": "not a division code"}]) from None
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    rows = await repository.listed(session, principal=principal, region_prefix=region_prefix,
                                   role=role.value if role else None, active=active, q=q, after=after,
                                   limit=limit + 1)
    return page(rows, limit, lambda u: {"id": u.id})


async def update(*, session: AsyncSession, principal: Principal, user: User, user_in: UserUpdate) -> User:
    """Users change their own name, phone and password; a manager (who could have created them) changes all,
    including ``active`` (deactivation)."""
    own = principal.sub == str(user.id)
    manager = principal.may_create(Role(user.role), user.region_code) and not own
    changes = user_in.model_dump(exclude_unset=True)
    if not (own or manager) or ("active" in changes and not manager):
        raise Forbidden("You may not change this user")
    diff: dict[str, Any] = {}
    if "password" in changes and changes["password"] is not None:
        _check_password(changes["password"])
        user.password_hash = await passwords.hash_password(changes["password"])
        diff["password"] = "changed"
    for field in ("display_name", "phone", "active"):
        if field in changes and changes[field] is not None and changes[field] != getattr(user, field):
            setattr(user, field, changes[field])
            diff[field] = mask_phone(changes[field]) if field == "phone" else changes[field]
    if diff:
        user.version += 1
        await repository.add(session, user)
        await audit.record(session, actor=principal.sub, action="user.update", entity="user", entity_id=user.id,
                           diff=diff)
    return user


async def any_user_exists(session: AsyncSession) -> bool:
    return await repository.any_exists(session)


async def lock_bootstrap(session: AsyncSession) -> None:
    """Serialise first-start admin creation between gateway workers."""
    await repository.lock_bootstrap(session)


async def find_by_username(session: AsyncSession, username: str) -> User | None:
    username = username.strip().lower()
    if not username or len(username) > 64 or "\x00" in username:     # cannot exist; never reaches the database
        return None
    return await repository.by_username(session, username)


async def covering(*, session: AsyncSession, region_code: str, roles: list[str]) -> list[User]:
    """Active users whose scope contains ``region_code`` (the officers responsible for it)."""
    scopes = []
    code = region_code
    while code:
        scopes.append(code)
        code = regions.parent(code)
    return await repository.active_in(session, region_codes=scopes, roles=roles)
