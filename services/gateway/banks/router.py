from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.banks import service
from services.gateway.banks.schemas import BankClientCreate, BankClientCreated, BankClientRead
from shared.auth import PrincipalDep, Role, require
from shared.db import SessionDep
from shared.http_types import Limit
from shared.pagination import Page
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/auth/clients", dependencies=[require(Role.county_admin)])


@router.post("", status_code=201, response_model=BankClientCreated, responses=problem_responses(401, 403, 422),
             summary="Register a partner bank client 新增合作银行接入")
async def create_client(client_in: BankClientCreate, session: SessionDep, principal: PrincipalDep
                        ) -> BankClientCreated:
    """Answers the ``client_secret`` once; only its hash is kept. The bank then signs in with
    ``grant_type=client_credentials``."""
    return await service.create(session=session, principal=principal, client_in=client_in)


@router.get("", response_model=Page[BankClientRead], responses=problem_responses(400, 401, 403),
            summary="Partner bank clients 合作银行接入列表")
async def list_clients(session: SessionDep, principal: PrincipalDep, limit: Limit = 50,
                       cursor: Annotated[str | None, Query(max_length=512)] = None) -> Page[BankClientRead]:
    """The clients of your region, oldest first."""
    rows, next_cursor = await service.list_in_scope(session=session, principal=principal, limit=limit, cursor=cursor)
    return Page(items=[service.to_read(c) for c in rows], next_cursor=next_cursor)
