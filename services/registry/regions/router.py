from fastapi import APIRouter, Response

from services.registry.regions import service
from services.registry.regions.schemas import RegionCreate, RegionRead
from shared.auth import PrincipalDep, Role, require
from shared.db import SessionDep
from shared.etag import set_etag
from shared.idempotency import IdempotencyDep
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/regions")


@router.post("", status_code=201, response_model=RegionRead, dependencies=[require(Role.county_admin)],
             responses=problem_responses(401, 403, 404, 409, 422), summary="Create a region 新增行政区划")
async def create_region(region_in: RegionCreate, session: SessionDep, principal: PrincipalDep,
                        response: Response, idempotency: IdempotencyDep) -> RegionRead:
    async def create() -> RegionRead:
        region = await service.create(session=session, principal=principal, region_in=region_in)
        set_etag(response, region.version)
        return service.to_read(region)
    return await idempotency.once(session, owner=principal.sub, body=region_in, act=create)


@router.get("/{code}", summary="A region 行政区划详情", response_model=RegionRead, responses=problem_responses(401, 404))
async def get_region(code: str, session: SessionDep, principal: PrincipalDep, response: Response) -> RegionRead:
    region = await service.get_visible(session=session, principal=principal, code=code)
    set_etag(response, region.version)
    return service.to_read(region)


@router.get("/{code}/children", summary="The regions one level below 下级行政区划",
            response_model=list[RegionRead], responses=problem_responses(401, 404))
async def get_children(code: str, session: SessionDep, principal: PrincipalDep) -> list[RegionRead]:
    return [service.to_read(r) for r in await service.children(session=session, principal=principal, code=code)]
