"""一码申报 over HTTP: the public page and post (no login, rate limited), the officers' list and dismissal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.registry.deps import CipherDep, EndpointDep
from services.registry.households.scope import Scope
from services.registry.monitoring.deps import MonitoringOfficerScope as OfficerScope
from services.registry.monitoring.deps import MonitoringReaderScope as ReaderScope
from services.registry.monitoring.reports import pages, service
from services.registry.monitoring.reports.schemas import DismissIn, ReportAck, ReportIn, ReportRead, ReportStatus
from shared import forms
from shared.db import SessionDep
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.pagination import Page
from shared.problems import Problem, problem_responses
from shared.ratelimit import Limit as RateLimit
from shared.ratelimit import WindowLimiter, client_address
from shared.regions import RegionCode

public = APIRouter(tags=["monitoring 防返贫监测"])
router = APIRouter(prefix="/api/v1/monitoring/reports", tags=["monitoring 防返贫监测"])

PER_ADDRESS = RateLimit(5, 600)        # 5 reports in 10 minutes from one address (every attempt counts)
PER_VILLAGE = RateLimit(200, 3600)     # 200 accepted reports an hour for one village
FORM = "application/x-www-form-urlencoded"


_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ReportIn.model_json_schema()},
    FORM: {"schema": ReportIn.model_json_schema()}}}}


def _limiter(request: Request) -> WindowLimiter:
    limiter = getattr(request.app.state, "report_limiter", None)
    if limiter is None:
        limiter = WindowLimiter(prefix=f"{request.app.state.settings.queue_prefix}:monitoring-reports")
        request.app.state.report_limiter = limiter
    return limiter


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**pages.HEADERS, **(headers or {})})


@public.get("/public/monitoring/report", response_class=HTMLResponse, responses=problem_responses(422),
            summary="The self-report page 一码申报 (HTML)")
async def report_page(session: SessionDep,
                      village: Annotated[RegionCode | None, Query(description="the village of the QR code")] = None
                      ) -> HTMLResponse:
    name = await service.village_name(session, village)
    return _html(pages.report_page(village_code=village if name else None, village_name=name))


@public.post("/public/monitoring/reports", status_code=202, response_model=ReportAck, openapi_extra=_BODY,
             responses=problem_responses(400, 413, 415, 422, 429), summary="Report a hardship 一码申报",
             description="No login. The answer is the same whatever the ID number (known to the registry or not) "
                         "and echoes nothing sent: a receipt `reference`. JSON answers JSON; an HTML form post "
                         "answers the page. A malformed field or an unknown village is 422. Rate limited per client "
                         "address (429 with `Retry-After`).")
async def create_report(request: Request, session: SessionDep, cipher: CipherDep) -> Any:
    is_form = request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM
    values: dict[str, str] = {}
    limiter, redis = _limiter(request), getattr(request.app.state, "redis", None)
    try:
        await limiter.hit(redis, f"addr:{client_address(request)}", PER_ADDRESS,
                          "Too many reports from your address; try again later")
        raw = await forms.read_body(request, is_form=is_form, what="a report")
        if isinstance(raw, dict):
            values = {k: str(raw.get(k) or "")[:2000] for k in ("village_code", "description")}
        report_in = forms.validate(ReportIn, raw)
        await limiter.hit(redis, f"village:{report_in.village_code}", PER_VILLAGE,
                          "This village has received too many reports in the last hour; try again later")
        reference = await service.submit(session=session, cipher=cipher, report_in=report_in)
    except Problem as problem:
        if not is_form:
            raise
        return await _form_problem(session, problem, values)
    if is_form:
        return _html(pages.report_page(village_code=None, village_name=None, received=reference), 202)
    return JSONResponse({"received": True, "reference": reference}, status_code=202)


async def _form_problem(session: SessionDep, problem: Problem, values: dict[str, str]) -> HTMLResponse:
    headers = dict(problem.headers or {})
    if problem.status == 422:
        fields = [str(err["loc"][1]) for err in problem.errors or [] if len(err.get("loc") or ()) > 1]
        errors = tuple(dict.fromkeys(pages.FIELD_HINTS.get(f, "请检查填写内容。") for f in fields)) or ("请检查填写内容。",)
    elif problem.status == 429:
        errors = (f"提交过于频繁，请 {headers.get('Retry-After', '60')} 秒后再试。",)
    else:
        errors = ("提交的内容无法识别，请重新填写。",)
    village = values.get("village_code") or None
    name = await service.village_name(session, village) if village and len(village) == 12 and village.isdigit() \
        else None
    return _html(pages.report_page(village_code=village if name else None, village_name=name, values=values,
                                   errors=errors), problem.status, headers)


# --- officers ----------------------------------------------------------------------------------------------

@router.get("", response_model=Page[ReportRead], responses=problem_responses(400, 401, 403, 422),
            summary="Self-reports in your region 一码申报列表")
async def list_reports(session: SessionDep, scope: ReaderScope, cipher: CipherDep, endpoint: EndpointDep,
                       region: Annotated[RegionCode | None, Query(description="default: your region")] = None,
                       status: ReportStatus | None = None, limit: Limit = 50,
                       cursor: Annotated[str | None, Query(max_length=512)] = None) -> Page[ReportRead]:
    """Newest first; each says whether it is ``overdue`` (open for more than 2 days). ID numbers and phones are
    in full for county, township and village cadres (recorded in the personal-data access log for the reports of
    registry people), masked for everyone else."""
    items, next_cursor = await service.listed(session=session, scope=scope, cipher=cipher, region=region,
                                              status=status, limit=limit, cursor=cursor)
    await _log(session, scope, endpoint, items)
    return Page(items=items, next_cursor=next_cursor)


async def _log(session: SessionDep, scope: Scope, endpoint: str, items: list[ReportRead]) -> None:
    await service.log_shown(session, scope=scope, endpoint=endpoint, reports=items)


@router.get("/{report_id}", response_model=ReportRead, responses=problem_responses(401, 403, 404, 422),
            summary="One self-report 一码申报详情")
async def get_report(report_id: IdPath, session: SessionDep, scope: ReaderScope, cipher: CipherDep,
                     endpoint: EndpointDep, response: Response) -> ReportRead:
    report = service.to_read(await service.get(session=session, scope=scope, report_id=report_id), cipher=cipher,
                             full=scope.full_pii)
    await _log(session, scope, endpoint, [report])
    set_etag(response, report.version)
    return report


@router.post("/{report_id}/dismiss", response_model=ReportRead, responses=problem_responses(401, 403, 404, 409, 422),
             summary="Dismiss a self-report 不予受理")
async def dismiss_report(report_id: IdPath, dismiss_in: DismissIn, session: SessionDep, scope: OfficerScope,
                         cipher: CipherDep, response: Response) -> ReportRead:
    """County admins and township officers; an open report only (409 otherwise); the reason is audited."""
    report = await service.dismiss(session=session, scope=scope, cipher=cipher, report_id=report_id,
                                   reason=dismiss_in.reason)
    set_etag(response, report.version)
    return report
