"""部门筛查 over HTTP: upload a department file (→ a job), list and dismiss the warnings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from services.registry.bulk.router import read_upload
from services.registry.monitoring.deps import MonitoringOfficerScope as OfficerScope
from services.registry.monitoring.deps import MonitoringReaderScope as ReaderScope
from services.registry.monitoring.screenings import service
from services.registry.monitoring.screenings.schemas import (
    RuleCode,
    ScreeningAccepted,
    WarningDismiss,
    WarningRead,
    WarningStatus,
)
from shared.auth import PrincipalDep
from shared.db import SessionDep
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.pagination import Page
from shared.problems import Forbidden, problem_responses
from shared.regions import RegionCode
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring 防返贫监测"])



_SCREENING_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "the department rows: .xlsx or .csv with 身份证号, 来源部门, 类型, 金额, "
                                           "发生日期"}}}}}}}


@router.post("/screenings", status_code=202, response_model=ScreeningAccepted, openapi_extra=_SCREENING_BODY,
             responses=problem_responses(400, 401, 403, 413, 422), summary="Import department rows 部门筛查导入")
async def import_screening(request: Request, session: SessionDep, scope: OfficerScope, principal: PrincipalDep
                           ) -> JSONResponse:
    """One row per department fact: 身份证号, 来源部门 (医保, 民政, 残联, 应急, 教育), 类型 (自付医疗费用, 低保, 临时救助,
    残疾, 灾害损失, 教育支出), 金额 (yuan), 发生日期. Answers 202 with a ``job_id`` to poll at
    ``GET /api/v1/jobs/{job_id}`` (row errors, and a summary: rows matched to a household of your region and not,
    warnings raised per rule). Importing the same rows again creates nothing new. The warnings' rules are those of
    ``services/registry/monitoring/screenings/rules.py``, over the rows' years."""
    if principal.is_service:
        raise Forbidden("imports are made by people, in their own region")
    filename, content = await read_upload(request)
    job_id = await service.upload(session=session, scope=scope, region_code=principal.region, filename=filename,
                                  content=content)
    return FastJSONResponse({"job_id": str(job_id), "status": "queued"}, status_code=202,
                            headers={"Location": f"/api/v1/jobs/{job_id}"})


@router.get("/warnings", response_model=Page[WarningRead], responses=problem_responses(400, 401, 403, 422),
            summary="Screening warnings 预警列表")
async def list_warnings(session: SessionDep, scope: ReaderScope,
                        region: Annotated[RegionCode | None, Query(description="default: your region")] = None,
                        status: WarningStatus | None = None, rule: RuleCode | None = None,
                        year: Annotated[int | None, Query(ge=2000, le=2100)] = None, limit: Limit = 50,
                        cursor: Annotated[str | None, Query(max_length=512)] = None) -> Page[WarningRead]:
    """Newest first, each with the rule that fired and the figures that made it fire."""
    items, next_cursor = await service.listed(session=session, scope=scope, region=region, status=status,
                                              rule=rule.value if rule else None, year=year, limit=limit,
                                              cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/warnings/{warning_id}", response_model=WarningRead, responses=problem_responses(401, 403, 404, 422),
            summary="One screening warning 预警详情")
async def get_warning(warning_id: IdPath, session: SessionDep, scope: ReaderScope, response: Response
                      ) -> WarningRead:
    warning = service.to_read(await service.get(session=session, scope=scope, warning_id=warning_id))
    set_etag(response, warning.version)
    return warning


@router.post("/warnings/{warning_id}/dismiss", response_model=WarningRead,
             responses=problem_responses(401, 403, 404, 409, 422), summary="Dismiss a warning 排除预警")
async def dismiss_warning(warning_id: IdPath, dismiss_in: WarningDismiss, session: SessionDep, scope: OfficerScope,
                          response: Response) -> WarningRead:
    """County admins and township officers; an open warning only (409 otherwise); the reason is audited."""
    warning = await service.dismiss(session=session, scope=scope, warning_id=warning_id, reason=dismiss_in.reason)
    set_etag(response, warning.version)
    return warning
