from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from services.registry.deps import (
    CadreScope,
    CipherDep,
    EndpointDep,
    ReaderScope,
    ReaderScopeHot,
    cipher_in,
    endpoint_in,
    endpoint_of,
    reader_scope_for,
)
from services.registry.glossary import Attribute, Cause, Status
from services.registry.households import service
from services.registry.households.schemas import (
    EligibilityAnswer,
    EligibilityQuery,
    HouseholdCreate,
    HouseholdRead,
    HouseholdSummary,
    HouseholdUpdate,
    MemberIn,
    MemberRead,
    MemberUpdate,
    PersonRef,
)
from services.registry.households.scope import Scope, scope_of
from shared.auth import BEARER, PrincipalDep, bearer_of, require_service
from shared.db import SessionDep
from shared.etag import check_if_match, etag
from shared.http_types import INT64_MAX, IdPath, Limit
from shared.idempotency import REPLAYED, IdempotencyDep, id_only
from shared.pagination import Page
from shared.problems import Problem, problem_response, problem_responses
from shared.regions import RegionCode
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1")

Cursor = Annotated[str | None, Query(max_length=512)]


def _answer(body: dict, status_code: int = 200, **headers: str) -> JSONResponse:
    return FastJSONResponse(body, status_code=status_code, headers={"ETag": etag(body["version"]), **headers})


@router.post("/households", status_code=201, response_model=HouseholdRead,
             responses=problem_responses(401, 403, 409, 422), summary="Register a household 建档立卡")
async def create_household(household_in: HouseholdCreate, session: SessionDep, scope: CadreScope,
                           cipher: CipherDep, principal: PrincipalDep, idempotency: IdempotencyDep,
                           endpoint: EndpointDep) -> JSONResponse:
    """Stored as ``pending`` (识别中) with a generated ``household_no`` (village code + sequence). Exactly one
    member is the head; a person already in any household of the registry is a 409 naming that household
    (``household_id``, ``household_no``). Sex and birth date come from the ID number."""
    async def show(household_id: int, status_code: int, **headers: str) -> JSONResponse:
        body = await service.view(session, scope=scope, cipher=cipher, household_id=household_id, endpoint=endpoint)
        return _answer(body, status_code, **headers)

    async def create() -> JSONResponse:
        household_id = await service.create(session=session, scope=scope, cipher=cipher, household_in=household_in)
        return await show(household_id, 201, Location=f"/api/v1/households/{household_id}")
    return await idempotency.once(session, owner=principal.sub, body=household_in, act=create, kept=id_only,
                                  replayed=lambda kept, status: show(kept["id"], status, **REPLAYED))


@router.get("/households", response_model=Page[HouseholdSummary], responses=problem_responses(400, 401, 403, 422),
            summary="List households 建档立卡户列表")
async def list_households(session: SessionDep, scope: ReaderScope, cipher: CipherDep, endpoint: EndpointDep,
                          region: RegionCode | None = None, status: Status | None = None,
                          attribute: Attribute | None = None,
                          cause: Annotated[Cause | None, Query(description="main or other cause")] = None,
                          q: Annotated[str | None, Query(max_length=64, description=(
                              "a member's name (prefix), a full ID number, or a household number"))] = None,
                          limit: Limit = 50, cursor: Cursor = None) -> JSONResponse:
    """Households in your region (a helper: those assigned to you), oldest first."""
    items, next_cursor = await service.list_page(
        session=session, scope=scope, cipher=cipher, region=region, status=status and status.value,
        attribute=attribute and attribute.value, cause=cause and cause.value, q=q, limit=limit, cursor=cursor,
        endpoint=endpoint)
    return FastJSONResponse({"items": items, "next_cursor": next_cursor})


@router.get("/households/{household_id}", response_model=HouseholdRead, responses=problem_responses(401, 403, 404),
            summary="A household 户详情", openapi_extra=BEARER)
async def get_household(household_id: IdPath, request: Request, scope: ReaderScopeHot) -> JSONResponse:
    """Members, incomes and assurances included. ID numbers, phones and the account are masked unless your role
    may see them; a full view is recorded in the PII access log."""
    return await household_answer(request.app.state, scope=scope, household_id=household_id,
                                  endpoint=endpoint_of(request))


async def household_answer(state, *, scope: Scope, household_id: int, endpoint: str) -> JSONResponse:
    """The household read's answer, for the FastAPI route and for ``HouseholdReadPath`` alike."""
    body = await service.view_pooled(state.read_pool, scope=scope, cipher=cipher_in(state),
                                     household_id=household_id, endpoint=endpoint)
    return _answer(body)


class HouseholdReadPath:
    """Pure-ASGI ``GET /api/v1/households/{id}`` in front of FastAPI's routing (the hot read). It runs the route's
    own functions (``reader_scope_for``, ``household_answer``, ``problem_response``); only the HTTP layer differs.
    Ids not written plainly (``007``, ``+7``, too large, not digits) fall through to the FastAPI route, which
    stays the reference (and the OpenAPI operation)."""

    PREFIX = "/api/v1/households/"
    ROUTE = "/api/v1/households/{household_id}"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.label = _RouteLabel(self.ROUTE)

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(self.PREFIX):
            return await self.app(scope, receive, send)
        digits = scope["path"][len(self.PREFIX):]
        if not (0 < len(digits) <= 19 and digits.isascii() and digits.isdigit() and digits[0] != "0"):
            return await self.app(scope, receive, send)
        household_id = int(digits)
        if household_id > INT64_MAX:
            return await self.app(scope, receive, send)
        scope["route"] = self.label            # metrics: the route's own path
        authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
                break
        state = scope["app"].state
        try:
            reader = await reader_scope_for(state, bearer_of(authorization))
            response = await household_answer(state, scope=reader, household_id=household_id,
                                              endpoint=endpoint_in(scope))
        except Problem as problem:
            response = problem_response(problem)
        await response(scope, receive, send)


class _RouteLabel:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


@router.patch("/households/{household_id}", response_model=HouseholdRead,
              responses=problem_responses(401, 403, 404, 412, 422), summary="Change a household 修改户信息")
async def update_household(household_id: IdPath, household_in: HouseholdUpdate, request: Request,
                           session: SessionDep, scope: CadreScope, cipher: CipherDep,
                           endpoint: EndpointDep) -> JSONResponse:
    household = await service.lock_visible(session, scope=scope, household_id=household_id)
    check_if_match(request, household["version"])
    await service.update(session=session, scope=scope, cipher=cipher, household=household, household_in=household_in)
    return _answer(await service.view(session, scope=scope, cipher=cipher, household_id=household_id,
                                      endpoint=endpoint))


@router.post("/households/{household_id}/members", status_code=201, response_model=MemberRead,
             responses=problem_responses(401, 403, 404, 409, 422), summary="Add a member 添加家庭成员")
async def add_member(household_id: IdPath, member_in: MemberIn, session: SessionDep, scope: CadreScope,
                     cipher: CipherDep, principal: PrincipalDep, idempotency: IdempotencyDep,
                     endpoint: EndpointDep) -> JSONResponse:
    """Not a second head (422); a person already in any household is a 409 naming it. ``Idempotency-Key``
    accepted."""
    household = await service.lock_visible(session, scope=scope, household_id=household_id)
    async def show(member_id: int, status_code: int, **headers: str) -> JSONResponse:
        body = await service.member_view(session, scope=scope, cipher=cipher, household_id=household_id,
                                         member_id=member_id, endpoint=endpoint)
        return _answer(body, status_code, **headers)

    async def add() -> JSONResponse:
        return await show(await service.add_member(session=session, scope=scope, cipher=cipher, household=household,
                                                   member_in=member_in), 201)
    return await idempotency.once(session, owner=principal.sub, body=member_in, act=add, kept=id_only,
                                  replayed=lambda kept, status: show(kept["id"], status, **REPLAYED))


@router.patch("/households/{household_id}/members/{member_id}", response_model=MemberRead,
              responses=problem_responses(401, 403, 404, 409, 412, 422), summary="Change a member 修改家庭成员")
async def update_member(household_id: IdPath, member_id: IdPath, member_in: MemberUpdate, request: Request,
                        session: SessionDep, scope: CadreScope, cipher: CipherDep,
                        endpoint: EndpointDep) -> JSONResponse:
    """``If-Match`` is the member's ETag. The head stays the head: a change leaving none or two is a 422."""
    household = await service.lock_visible(session, scope=scope, household_id=household_id)
    member = await service.member_of(session, household=household, member_id=member_id)
    check_if_match(request, member["version"])
    member = await service.update_member(session=session, scope=scope, cipher=cipher, household=household,
                                         member=member, member_in=member_in)
    return _answer(await service.member_shown(session, scope=scope, cipher=cipher, member=member, endpoint=endpoint))


@router.delete("/households/{household_id}/members/{member_id}", status_code=204,
               responses=problem_responses(401, 403, 404, 412, 422), summary="Remove a member 删除家庭成员")
async def delete_member(household_id: IdPath, member_id: IdPath, request: Request, session: SessionDep,
                        scope: CadreScope) -> Response:
    """The head cannot be removed (422)."""
    household = await service.lock_visible(session, scope=scope, household_id=household_id)
    member = await service.member_of(session, household=household, member_id=member_id)
    check_if_match(request, member["version"])
    await service.delete_member(session=session, scope=scope, household=household, member=member)
    return Response(status_code=204)


@router.get("/persons/by-id-number/{id_number}", response_model=PersonRef,
            responses=problem_responses(401, 403, 404, 422), summary="Find a person 按身份证号查找")
async def person_by_id_number(id_number: str, session: SessionDep, scope: ReaderScope,
                              cipher: CipherDep) -> PersonRef:
    found = await service.find_person(session=session, scope=scope, cipher=cipher, id_number=id_number[:64])
    return PersonRef(household_id=found["household_id"], member_id=found["member_id"])


internal_router = APIRouter(prefix="/internal/households", include_in_schema=False,
                            dependencies=[require_service()])


@internal_router.post("/eligibility", response_model=EligibilityAnswer)
async def eligibility(query: EligibilityQuery, session: SessionDep, principal: PrincipalDep, cipher: CipherDep,
                      endpoint: EndpointDep) -> JSONResponse:
    """For funds, one call per disbursement batch: per id whether it exists, its status, whether it lies in
    ``region_code``, and what a payment needs (head, ID number, phone, payout account), in full."""
    items = await service.eligibility(session=session, scope=scope_of(principal), cipher=cipher, query=query,
                                      endpoint=endpoint)
    return FastJSONResponse({"items": items})
