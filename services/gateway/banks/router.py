from fastapi import APIRouter

from services.gateway.banks import service
from services.gateway.banks.schemas import BankClientCreate, BankClientCreated, BankClientRead
from shared.auth import PrincipalDep, Role, require
from shared.db import SessionDep
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/auth/clients", tags=["auth 身份认证"], dependencies=[require(Role.county_admin)])


@router.post("", status_code=201, response_model=BankClientCreated, responses=problem_responses(401, 403, 422),
             summary="Register a partner bank client 新增合作银行接入")
async def create_client(client_in: BankClientCreate, session: SessionDep, principal: PrincipalDep
                        ) -> BankClientCreated:
    """Answers the ``client_secret`` once; only its hash is kept. The bank then signs in with
    ``grant_type=client_credentials``."""
    return await service.create(session=session, principal=principal, client_in=client_in)


@router.get("", response_model=list[BankClientRead], responses=problem_responses(401, 403),
            summary="Partner bank clients 合作银行接入列表")
async def list_clients(session: SessionDep, principal: PrincipalDep) -> list[BankClientRead]:
    return [service.to_read(c) for c in await service.list_in_scope(session=session, principal=principal)]
