from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.gateway.tokens import service as tokens
from services.gateway.users import service
from services.gateway.users.models import User
from services.gateway.users.schemas import UserCreate, UserRead, UserUpdate
from shared.auth import PrincipalDep, Role, require_service
from shared.db import SessionDep
from shared.etag import check_if_match, set_etag
from shared.http_types import IdPath, Limit
from shared.pagination import Page
from shared.problems import NotFound, problem_responses
from shared.regions import RegionCode

router = APIRouter(prefix="/api/v1/auth/users")


@router.post("", status_code=201, response_model=UserRead, responses=problem_responses(401, 403, 409, 422),
             summary="Create a user 新建用户")
async def create_user(user_in: UserCreate, session: SessionDep, principal: PrincipalDep,
                      response: Response) -> UserRead:
    """Only a strictly lower role inside your own region; a county_admin may also create county_admins of
    their own county. Passwords need at least 10 characters and not only digits."""
    user = await service.create(session=session, principal=principal, user_in=user_in)
    set_etag(response, user.version)
    response.headers["Location"] = f"/api/v1/auth/users/{user.id}"
    return service.to_read(user, principal)


@router.get("", response_model=Page[UserRead], responses=problem_responses(401, 403), summary="List users 用户列表")
async def list_users(session: SessionDep, principal: PrincipalDep,
                     region: Annotated[str | None, Query(max_length=12)] = None, role: Role | None = None,
                     q: Annotated[str | None, Query(max_length=64)] = None, active: bool | None = None,
                     limit: Limit = 50, cursor: Annotated[str | None, Query(max_length=512)] = None
                     ) -> Page[UserRead]:
    rows, next_cursor = await service.list_visible(session=session, principal=principal, region=region, role=role,
                                                   q=q, active=active, limit=limit, cursor=cursor)
    return Page(items=[service.to_read(u, principal) for u in rows], next_cursor=next_cursor)


@router.get("/{user_id}", response_model=UserRead, responses=problem_responses(401, 404), summary="A user 用户详情")
async def get_user(user_id: IdPath, session: SessionDep, principal: PrincipalDep, response: Response) -> UserRead:
    user = await service.get_visible(session=session, principal=principal, user_id=user_id)
    set_etag(response, user.version)
    return service.to_read(user, principal)


@router.patch("/{user_id}", response_model=UserRead, responses=problem_responses(401, 403, 404, 412, 422),
              summary="Change a user 修改用户")
async def update_user(user_id: IdPath, user_in: UserUpdate, request: Request, session: SessionDep,
                      principal: PrincipalDep, response: Response) -> UserRead:
    """Anyone may change their own display name, phone and password; whoever could have created the user may
    also deactivate (``active: false``) or reactivate them. Deactivation ends all their sessions at once."""
    user = await service.get_visible(session=session, principal=principal, user_id=user_id)
    check_if_match(request, user.version)
    was_active = user.active
    user = await service.update(session=session, principal=principal, user=user, user_in=user_in)
    if was_active and not user.active:
        revoked = await tokens.revoke_subject(session, sub=str(user.id), actor=principal.sub, reason="deactivated")
        await session.commit()
        await request.app.state.revocations.push(revoked)
    set_etag(response, user.version)
    return service.to_read(user, principal)


internal_router = APIRouter(prefix="/internal/users", include_in_schema=False, dependencies=[require_service()])


@internal_router.get("", response_model=list[UserRead])
async def users_covering(session: SessionDep, covering: RegionCode,
                         role: Annotated[list[Role] | None, Query()] = None) -> list[UserRead]:
    """Active users whose scope contains ``covering`` (e.g. the officers of a notice's region)."""
    found = await service.covering(session=session, region_code=covering, roles=[r.value for r in role or []])
    return [service.to_read(u) for u in found]


@internal_router.get("/{user_id}", response_model=UserRead)
async def internal_user(user_id: IdPath, session: SessionDep) -> UserRead:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    return service.to_read(user)
