from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from services.registry.monitoring.thresholds import service
from services.registry.monitoring.thresholds.schemas import ThresholdIn, ThresholdRead
from shared.auth import PrincipalDep, Role, require
from shared.db import SessionDep
from shared.etag import set_etag
from shared.pagination import Page
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/monitoring/thresholds", tags=["monitoring 防返贫监测"])

YearPath = Annotated[int, Path(ge=2000, le=2100)]


@router.put("/{year}", response_model=ThresholdRead, dependencies=[require(Role.county_admin)],
            responses={201: {"model": ThresholdRead, "description": "Created"},
                       **problem_responses(401, 403, 404, 412, 422)},
            summary="Set a region's monitoring threshold 设定监测标准")
async def put_threshold(year: YearPath, threshold_in: ThresholdIn, session: SessionDep, principal: PrincipalDep,
                        response: Response, if_match: Annotated[str | None, Header(max_length=200)] = None
                        ) -> ThresholdRead:
    """监测标准 for ``year``: per-capita net income per year below which a household is watched. Set for the
    caller's region or one above it; the most specific region covering a household wins. 201 when new, 200 when
    it replaces one (``If-Match`` honoured)."""
    threshold, created = await service.put(session=session, principal=principal, year=year,
                                           threshold_in=threshold_in, if_match=if_match)
    response.status_code = 201 if created else 200
    set_etag(response, threshold.version)
    return threshold


@router.get("", response_model=Page[ThresholdRead], responses=problem_responses(401, 422),
            summary="Monitoring thresholds 监测标准")
async def list_thresholds(session: SessionDep, _: PrincipalDep,
                          year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Page[ThresholdRead]:
    return Page(items=await service.listed(session=session, year=year), next_cursor=None)
