"""GET /api/v1/stats/funds/{code}: money per purpose of a region (the dashboard's funds panel)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.funds.deps import SessionDep
from services.funds.stats import service
from services.funds.stats.schemas import FundStats
from shared import regions
from shared.auth import Principal, Role, require
from shared.problems import NotFound, problem_responses

router = APIRouter(tags=["funds 资金"])

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor)


@router.get("/api/v1/stats/funds/{code}", response_model=FundStats, responses=problem_responses(401, 403, 404, 422),
            summary="Funds per purpose of a region 资金分项统计")
async def fund_stats(code: Annotated[str, Path(max_length=12)], request: Request, session: SessionDep,
                     year: Annotated[int | None, Query(ge=2000, le=2100, description="allocations of this year; default: all")] = None,
                     principal: Principal = READERS) -> FundStats:
    """For the allocations of the region's subtree, per purpose and in total: allocated (what they hold now),
    committed, spent, available, and idle (滞留滞拨: available money of allocations not drawn on for more than
    `JINGZHUN_IDLE_DAYS` days, as `GET /api/v1/alerts` lists them). A region outside yours is 404."""
    try:
        regions.validate(code)
    except ValueError:
        raise NotFound("No such region") from None
    return await service.fund_stats(session=session, principal=principal, settings=request.app.state.settings,
                                    code=code, year=year)
