from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.registry.deps import ReaderScope
from services.registry.regions import service as region_service
from services.registry.stats import service, years
from shared.auth import PrincipalDep
from shared.problems import NotFound, Unprocessable, problem_responses
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1")
CHINA = ZoneInfo("Asia/Shanghai")


@router.get("/stats/regions/{code}", responses=problem_responses(401, 403, 404, 422),
            summary="Statistics of a region 区域统计")
async def region_stats(code: Annotated[str, Path(max_length=12)], request: Request, scope: ReaderScope,
                       principal: PrincipalDep,
                       year: Annotated[int | None, Query(ge=2000, le=2100, description="default: this year")] = None
                       ) -> JSONResponse:
    """For the region's subtree, and the same for each child region under ``children``: households and persons
    per status, per attribute and per main cause (over households in the register, with the still-poor part),
    per 五个一批 batch (from measures), new / exits / returns / removals in ``year`` (from the status history),
    helper coverage, and ``poverty_incidence`` = persons of registered and returned households ÷
    ``rural_population`` (null when 0). Codes come with their Chinese labels. A helper's figures cover the
    households assigned to them. 404 outside your region."""
    region_service.check_visible(principal, code)
    year = year or datetime.now(CHINA).year
    body = await service.region_stats(await request.app.state.db.pool(), scope=scope, code=code, year=year)
    if body is None:
        raise NotFound("No such region")
    return FastJSONResponse(body)


@router.get("/stats/regions/{code}/years", responses=problem_responses(401, 403, 404, 422),
            summary="Year by year: new, exits, returns, removals 历年纳入、脱贫、返贫、清退")
async def region_years(code: Annotated[str, Path(max_length=12)], request: Request, scope: ReaderScope,
                       principal: PrincipalDep,
                       first: Annotated[int, Query(alias="from", ge=2000, le=2100)] = 2014,
                       last: Annotated[int | None, Query(alias="to", ge=2000, le=2100,
                                                         description="default: this year")] = None
                       ) -> JSONResponse:
    """For the region's subtree, every year from ``from`` to ``to``: ``new`` (纳入), ``exits`` (脱贫), ``returns``
    (返贫), ``removals`` (清退) and ``identified`` (识别), each ``{households, persons}``, counted exactly as the
    statistics' ``in_year`` of that year (one query for the whole range). A helper's figures cover the households
    assigned to them. 404 outside your region."""
    region_service.check_visible(principal, code)
    last = last or datetime.now(CHINA).year
    if first > last:
        msg = "from must not be after to"
        raise Unprocessable(msg, errors=[{"loc": ["query", "from"], "msg": msg, "type": "value_error"}])
    body = await years.year_series(await request.app.state.db.pool(), scope=scope, code=code, first=first,
                                   last=last)
    if body is None:
        raise NotFound("No such region")
    return FastJSONResponse(body)
