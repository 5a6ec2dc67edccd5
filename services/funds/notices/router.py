"""公示 over HTTP: the public board (JSON and HTML, no login), the officers' routes, the internal opening."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from services.funds.deps import SessionDep
from services.funds.notices import pages, service
from services.funds.notices.content import mask_phone
from services.funds.notices.glossary import NoticeKind, NoticeStatus, ObjectionStatus
from services.funds.notices.ratelimit import ObjectionLimiter, client_address
from services.funds.notices.schemas import (
    NoticeOpen,
    NoticeOpened,
    NoticePublic,
    NoticeRead,
    NoticeSummary,
    ObjectionAck,
    ObjectionCreate,
    ObjectionRead,
    ObjectionResolve,
    WithdrawIn,
)
from shared import forms
from shared.auth import PrincipalDep, Role, require, require_service
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.pagination import Page
from shared.problems import (
    Problem,
    problem_responses,
)
from shared.regions import RegionCode

HASH_RECIPE = """
Items come a page at a time (`?limit=`, at most 500, default 500; `?cursor=` the answer's
`items_next_cursor`, null on the last page); `item_count` and `amount_total` are those of the whole list.

`content_hash` lets anyone check that the list acted on is the list that was shown. Recompute it from
these answers alone:

1. take the object `{"kind", "region_code", "title", "starts_at", "ends_at", "items"}` with the values
   exactly as they appear here (times as the RFC 3339 strings shown, `items` the items of every page
   concatenated, in order);
2. serialise it as canonical JSON per RFC 8785 (JCS: sorted keys, no whitespace, UTF-8);
3. `content_hash` is the lower-case hex SHA-256 of those bytes.

In Python: `hashlib.sha256(rfc8785.dumps({k: n[k] for k in ("kind", "region_code", "title", "starts_at",
"ends_at", "items")})).hexdigest()`. Items are frozen when the notice opens; ID numbers and phone
numbers are masked in them before they are stored or hashed.
"""

RegionQuery = Annotated[RegionCode | None, Query(description="a 12-digit region code: its whole subtree")]
CursorQuery = Annotated[str | None, Query(max_length=512)]
ItemsLimit = Annotated[int, Query(ge=1, le=500, description="items per page (a batch may list 100,000)")]
ItemsCursor = Annotated[str | None, Query(max_length=512, description="`items_next_cursor` of the previous page")]
FORM = "application/x-www-form-urlencoded"

_OBJECTION_SCHEMA = ObjectionCreate.model_json_schema()
_OBJECTION_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _OBJECTION_SCHEMA},
    FORM: {"schema": _OBJECTION_SCHEMA}}}}

OFFICERS = (Role.county_admin, Role.township_officer, Role.village_cadre)
READERS = (*OFFICERS, Role.finance_officer, Role.auditor)

public = APIRouter()
officers = APIRouter()
internal = APIRouter(prefix="/internal/notices", dependencies=[require_service()])


def _html(content: str, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers={**pages.HEADERS, **(headers or {})})


# --- public board --------------------------------------------------------------------------------

@public.get("/public", response_class=HTMLResponse, summary="The board: open notices 公示公告栏 (HTML)")
async def board(session: SessionDep, region: RegionQuery = None, cursor: CursorQuery = None) -> HTMLResponse:
    rows, next_cursor = await service.list_public(session=session, region=region, status="open", limit=50,
                                                  cursor=cursor)
    return _html(pages.board_page([service.to_summary(n) for n in rows], region=region, next_cursor=next_cursor))


@public.get("/public/notices", response_model=Page[NoticeSummary], responses=problem_responses(400, 422),
            summary="Notices, newest first 公示列表")
async def list_notices(session: SessionDep, region: RegionQuery = None, status: NoticeStatus | None = None,
                       limit: Limit = 50, cursor: CursorQuery = None) -> Page[NoticeSummary]:
    rows, next_cursor = await service.list_public(session=session, region=region, status=status, limit=limit,
                                                  cursor=cursor)
    return Page(items=[service.to_summary(n) for n in rows], next_cursor=next_cursor)


@public.get("/public/notices/{notice_id}.html", response_class=HTMLResponse, responses=problem_responses(422),
            summary="One notice as a web page 公示页面 (HTML)")
async def notice_html(notice_id: IdPath, session: SessionDep, cursor: ItemsCursor = None) -> HTMLResponse:
    try:
        notice = await service.get_public(session=session, notice_id=notice_id)
        items = await service.items_page(session=session, notice=notice, cursor=cursor)
    except Problem:
        return _html(pages.missing_page(), 404)
    counts = await service.counts(session=session, notice=notice)
    return _html(pages.notice_page(service.to_public(notice, counts, items), first_seq=items.first_seq))


@public.get("/public/notices/{notice_id}", response_model=NoticePublic, responses=problem_responses(404, 422),
            summary="One notice 公示详情", description=HASH_RECIPE)
async def get_notice(notice_id: IdPath, session: SessionDep, limit: ItemsLimit = service.ITEMS_PAGE,
                     cursor: ItemsCursor = None) -> NoticePublic:
    notice = await service.get_public(session=session, notice_id=notice_id)
    items = await service.items_page(session=session, notice=notice, limit=limit, cursor=cursor)
    return service.to_public(notice, await service.counts(session=session, notice=notice), items)


@public.post("/public/notices/{notice_id}/objections", status_code=201, response_model=ObjectionAck,
             openapi_extra=_OBJECTION_BODY, responses=problem_responses(400, 404, 409, 413, 422, 429),
             summary="Object to a notice 提出异议",
             description="No login. JSON answers JSON; an HTML form post (`application/x-www-form-urlencoded`) "
                         "answers the notice page with a confirmation. Only while the notice is open and within "
                         "its period (409 otherwise). Rate limited per client address and per notice (429 with "
                         "`Retry-After`).")
async def create_objection(notice_id: IdPath, request: Request, session: SessionDep) -> Any:
    is_form = request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM
    values: dict[str, str] = {}
    try:
        await _limiter(request).address_attempt(_redis(request), client_address(request))
        raw = await forms.read_body(request, is_form=is_form, what="an objection")
        if isinstance(raw, dict):
            values = {k: str(raw.get(k) or "")[:1000] for k in ("contact_name", "contact_phone", "content")}
        objection_in = forms.validate(ObjectionCreate, raw)
        objection = await service.submit_objection(session=session, notice_id=notice_id, objection_in=objection_in,
                                                   limiter=_limiter(request), redis=_redis(request))
    except Problem as problem:
        if not is_form:
            raise
        return await _form_problem(session, notice_id, problem, values)
    if is_form:
        notice = await service.get_public(session=session, notice_id=notice_id)
        page = service.to_public(notice, await service.counts(session=session, notice=notice),
                                 await service.items_page(session=session, notice=notice))
        banner = pages.Banner("ok", f"您的异议已提交（编号 {objection.id}），核实处理后将通过短信答复您。")
        return _html(pages.notice_page(page, banner=banner), 201)
    return ObjectionAck(id=objection.id, notice_id=objection.notice_id, status=objection.status,
                        contact_phone=mask_phone(objection.contact_phone), created_at=objection.created_at)


def _limiter(request: Request) -> ObjectionLimiter:
    limiter = getattr(request.app.state, "objection_limiter", None)
    if limiter is None:
        limiter = ObjectionLimiter(prefix=request.app.state.settings.queue_prefix)
        request.app.state.objection_limiter = limiter
    return limiter


def _redis(request: Request):
    return getattr(request.app.state, "redis", None)


_FIELD_HINTS = {"contact_name": "姓名：请填写 1–32 个字。", "contact_phone": "手机号码：请填写 11 位手机号。",
                "content": "异议内容：请填写 5–1000 个字。"}


async def _form_problem(session, notice_id: int, problem: Problem, values: dict[str, str]) -> HTMLResponse:
    """The notice page again, with what went wrong in Chinese and the villager's input kept."""
    try:
        notice = await service.get_public(session=session, notice_id=notice_id)
    except Problem:
        return _html(pages.missing_page(), 404)
    headers = dict(problem.headers or {})
    if problem.status == 422:
        fields = [str(err["loc"][-1]) for err in problem.errors or [] if err.get("loc")]
        details = tuple(dict.fromkeys(_FIELD_HINTS.get(f, "请检查填写内容。") for f in fields))
        banner = pages.Banner("err", "提交未成功，请修改后重新提交：", details)
    elif problem.status == 409:
        banner = pages.Banner("err", "这条公示已不在公示期内，不再受理异议。")
    elif problem.status == 429:
        banner = pages.Banner("err", f"提交过于频繁，请 {headers.get('Retry-After', '60')} 秒后再试。")
    else:
        banner = pages.Banner("err", "提交的内容无法识别，请重新填写。")
    page = service.to_public(notice, await service.counts(session=session, notice=notice),
                             await service.items_page(session=session, notice=notice))
    return _html(pages.notice_page(page, banner=banner, values=values), problem.status, headers)


# --- officers ------------------------------------------------------------------------------------

@officers.get("/api/v1/notices", response_model=Page[NoticeSummary], dependencies=[require(*READERS)],
              responses=problem_responses(400, 401, 403, 422), summary="Notices in your region 公示列表")
async def officer_list(session: SessionDep, principal: PrincipalDep, region: RegionQuery = None,
                       status: NoticeStatus | None = None, kind: NoticeKind | None = None, limit: Limit = 50,
                       cursor: CursorQuery = None) -> Page[NoticeSummary]:
    rows, next_cursor = await service.list_for(session=session, principal=principal, region=region, status=status,
                                               kind=kind, limit=limit, cursor=cursor)
    return Page(items=[service.to_summary(n) for n in rows], next_cursor=next_cursor)


@officers.get("/api/v1/notices/{notice_id}", response_model=NoticeRead, dependencies=[require(*READERS)],
              responses=problem_responses(401, 403, 404, 422), summary="One notice 公示详情",
              description=HASH_RECIPE)
async def officer_get(notice_id: IdPath, session: SessionDep, principal: PrincipalDep, response: Response,
                      limit: ItemsLimit = service.ITEMS_PAGE, cursor: ItemsCursor = None) -> NoticeRead:
    notice = await service.get_for(session=session, principal=principal, notice_id=notice_id)
    set_etag(response, notice.version)
    return await _read(session, notice, limit=limit, cursor=cursor)


async def _read(session, notice, *, limit: int = service.ITEMS_PAGE, cursor: str | None = None) -> NoticeRead:
    return service.to_read(notice, await service.counts(session=session, notice=notice),
                           await service.items_page(session=session, notice=notice, limit=limit, cursor=cursor))


@officers.get("/api/v1/notices/{notice_id}/objections", response_model=Page[ObjectionRead],
              dependencies=[require(*OFFICERS, Role.auditor)], responses=problem_responses(400, 401, 403, 404, 422),
              summary="Objections to a notice 异议列表")
async def officer_objections(notice_id: IdPath, session: SessionDep, principal: PrincipalDep,
                             status: ObjectionStatus | None = None, limit: Limit = 50,
                             cursor: CursorQuery = None) -> Page[ObjectionRead]:
    notice, rows, next_cursor = await service.list_objections(session=session, principal=principal,
                                                              notice_id=notice_id, status=status, limit=limit,
                                                              cursor=cursor)
    return Page(items=[service.objection_to_read(o, principal=principal, region_code=notice.region_code)
                       for o in rows], next_cursor=next_cursor)


@officers.post("/api/v1/objections/{objection_id}/resolve", response_model=ObjectionRead,
               dependencies=[require(*OFFICERS)], responses=problem_responses(401, 403, 404, 409, 422),
               summary="Resolve an objection 处理异议",
               description="`upheld` strikes the listed items named in `item_refs` (may be omitted when the "
                           "notice lists one item); `dismissed` strikes nothing. The objector is sent the reply.")
async def officer_resolve(objection_id: IdPath, resolve_in: ObjectionResolve, session: SessionDep,
                          principal: PrincipalDep, response: Response) -> ObjectionRead:
    objection, notice = await service.resolve(session=session, principal=principal, objection_id=objection_id,
                                              resolve_in=resolve_in)
    set_etag(response, objection.version)
    return service.objection_to_read(objection, principal=principal, region_code=notice.region_code)


@officers.post("/api/v1/notices/{notice_id}/close", response_model=NoticeRead, dependencies=[require(*OFFICERS)],
               responses=problem_responses(401, 403, 404, 409, 422), summary="Close a notice 公示结束",
               description="409 before `ends_at` or while an objection is unresolved. Emits `notice.closed` to "
                           "the requesting service with, per item, whether an upheld objection struck it.")
async def officer_close(notice_id: IdPath, session: SessionDep, principal: PrincipalDep,
                        response: Response) -> NoticeRead:
    notice = await service.close(session=session, principal=principal, notice_id=notice_id)
    set_etag(response, notice.version)
    return await _read(session, notice)


@officers.post("/api/v1/notices/{notice_id}/withdraw", response_model=NoticeRead, dependencies=[require(*OFFICERS)],
               responses=problem_responses(401, 403, 404, 409, 422), summary="Withdraw a notice 撤回公示",
               description="Only while open. The announced action does not take effect: `notice.closed` goes to "
                           "the requesting service with `outcome: withdrawn` and every item struck.")
async def officer_withdraw(notice_id: IdPath, withdraw_in: WithdrawIn, session: SessionDep, principal: PrincipalDep,
                           response: Response) -> NoticeRead:
    notice = await service.withdraw(session=session, principal=principal, notice_id=notice_id,
                                    reason=withdraw_in.reason)
    set_etag(response, notice.version)
    return await _read(session, notice)


# --- internal: other services open notices -------------------------------------------------------

@internal.post("", status_code=201, response_model=NoticeOpened, include_in_schema=False)
async def open_notice(notice_in: NoticeOpen, request: Request, session: SessionDep, principal: PrincipalDep,
                      response: Response) -> NoticeOpened:
    """Open a notice for another service (service tokens only). The same request again while the notice
    is open answers the same notice (``Idempotent-Replayed: true``)."""
    name = notice_in.region_name or await service.lookup_region_name(services=request.app.state.services,
                                                                     region_code=notice_in.region_code)
    notice, created = await service.open_notice(session=session, notice_in=notice_in, actor=principal.sub,
                                                min_days=request.app.state.settings.notice_min_days,
                                                region_name=name)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return service.to_opened(notice)
