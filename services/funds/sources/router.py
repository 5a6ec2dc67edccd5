from fastapi import APIRouter, Response

from services.funds.deps import SessionDep
from services.funds.sources import service
from services.funds.sources.schemas import FundSourceCreate, FundSourceRead
from shared.auth import PrincipalDep, Role, require
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/fund-sources")


@router.post("", status_code=201, response_model=FundSourceRead,
             dependencies=[require(Role.county_admin, Role.finance_officer)],
             responses=problem_responses(401, 403, 422), summary="Register a fund source 登记资金来源")
async def create_source(source_in: FundSourceCreate, session: SessionDep, principal: PrincipalDep,
                        response: Response, idempotency: IdempotencyDep) -> FundSourceRead:
    async def create() -> FundSourceRead:
        source = await service.create(session=session, principal=principal, source_in=source_in)
        set_etag(response, source.version)
        return service.to_read(source)
    return await idempotency.once(session, owner=principal.sub, body=source_in, act=create)


@router.get("", summary="Fund sources 资金来源列表", response_model=Page[FundSourceRead], responses=problem_responses(401))
async def list_sources(session: SessionDep, principal: PrincipalDep, year: int | None = None,
                       limit: Limit = 50, cursor: str | None = None) -> Page[FundSourceRead]:
    rows, next_cursor = await service.list_(session=session, principal=principal, year=year, limit=limit,
                                            cursor=cursor)
    return Page(items=[service.to_read(s) for s in rows], next_cursor=next_cursor)


@router.get("/{source_id}", summary="A fund source 资金来源详情",
            response_model=FundSourceRead, responses=problem_responses(401, 404))
async def get_source(source_id: IdPath, session: SessionDep, principal: PrincipalDep,
                     response: Response) -> FundSourceRead:
    source = await service.get(session=session, principal=principal, source_id=source_id)
    set_etag(response, source.version)
    return service.to_read(source)
