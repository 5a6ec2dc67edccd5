"""滞留滞拨 alerts (CONTRACT §5)."""

from fastapi import APIRouter, Query, Request

from services.funds.alerts import service
from services.funds.alerts.schemas import AlertRead
from services.funds.deps import SessionDep
from shared.auth import Principal, Role, require
from shared.http_types import Limit
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter()

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor)


@router.get("/api/v1/alerts", response_model=Page[AlertRead], responses=problem_responses(400, 401, 403, 404, 422),
            summary="滞留滞拨: idle money, stalled projects and overdue reports of a region")
async def list_alerts(request: Request, session: SessionDep,
                      region: RegionCode | None = Query(None, description="default: your region"),
                      limit: Limit = 50, cursor: str | None = None,
                      principal: Principal = READERS) -> Page[AlertRead]:
    """Allocations of the region's subtree whose available money has not been drawn on (committed, adjusted out
    or reversed) for more than `JINGZHUN_IDLE_DAYS` days (default 90) since the last time or, never drawn, since
    the allocation; and projects held in one stage before 报账 for more than `JINGZHUN_STAGE_DAYS` days (default
    60); and 一码申报 reports the registry has had open for more than two days. Whole days in China Standard Time;
    oldest first. A region outside yours is 404."""
    items, next_cursor = await service.list_(session=session, principal=principal,
                                             settings=request.app.state.settings,
                                             services=request.app.state.services, region=region, limit=limit,
                                             cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)
