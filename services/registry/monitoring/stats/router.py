from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.registry.deps import ReaderScope
from services.registry.monitoring.stats import service
from services.registry.regions import service as region_service
from shared.auth import PrincipalDep
from shared.problems import NotFound, problem_responses
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1/stats/monitoring", tags=["statistics 统计"])
CHINA = ZoneInfo("Asia/Shanghai")


@router.get("/{code}", responses=problem_responses(401, 403, 404, 422), summary="Monitoring statistics 防返贫监测统计")
async def monitoring_stats(code: Annotated[str, Path(max_length=12)], request: Request, scope: ReaderScope,
                           principal: PrincipalDep,
                           year: Annotated[int | None, Query(ge=2000, le=2100, description="default: this year")] = None
                           ) -> JSONResponse:
    """For the region's subtree, and the same for each child region under ``children``: the cases of ``year`` by
    category, status and risk type (codes with labels), households monitored now, cases eliminated in ``year``,
    monitored households with no measure since approval, and the median days from report to approval (over
    cases approved in ``year``). 404 outside your region."""
    region_service.check_visible(principal, code)
    year = year or datetime.now(CHINA).year
    body = await service.monitoring_stats(await request.app.state.db.pool(), scope=scope, code=code, year=year)
    if body is None:
        raise NotFound("No such region")
    return FastJSONResponse(body)
