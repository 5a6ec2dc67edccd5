from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from services.registry.assistance import service
from services.registry.assistance.schemas import (
    AssuranceIn,
    HelperIn,
    IncomeIn,
    MeasureIn,
    MeasureRead,
    VisitIn,
    VisitRead,
)
from services.registry.deps import (
    CadreScope,
    CipherDep,
    EndpointDep,
    HelperWorkScope,
    ReaderScope,
)
from services.registry.households import service as households
from services.registry.households import views
from services.registry.households.schemas import (
    AssuranceRead,
    HouseholdRead,
    IncomeRead,
)
from shared.auth import PrincipalDep
from shared.db import SessionDep
from shared.etag import etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1/households/{household_id}")

YearPath = Annotated[int, Path(ge=2000, le=2100)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.put("/incomes/{year}", response_model=IncomeRead, responses=problem_responses(401, 403, 404, 422),
            summary="Record a year's income 录入年度收入")
async def put_income(household_id: IdPath, year: YearPath, income_in: IncomeIn, session: SessionDep,
                     scope: HelperWorkScope) -> IncomeRead:
    """Adds ``net_income`` and ``per_capita_net`` = net ÷ current members, rounded half-up to the fen (negative
    when expenses exceed income). Cadres, or the household's helper."""
    household = await households.lock_visible(session, scope=scope, household_id=household_id)
    row = await service.put_income(session=session, scope=scope, household=household, year=year,
                                   income_in=income_in)
    return IncomeRead(**views.income_body(row))


@router.put("/assurances/{year}", response_model=AssuranceRead, responses=problem_responses(401, 403, 404, 422),
            summary="Record 两不愁三保障 for a year 录入两不愁三保障")
async def put_assurance(household_id: IdPath, year: YearPath, assurance_in: AssuranceIn, session: SessionDep,
                        scope: HelperWorkScope) -> AssuranceRead:
    household = await households.lock_visible(session, scope=scope, household_id=household_id)
    row = await service.put_assurance(session=session, scope=scope, household=household, year=year,
                                      assurance_in=assurance_in)
    return AssuranceRead(**views.assurance_body(row))


@router.put("/helper", response_model=HouseholdRead, responses=problem_responses(401, 403, 404, 422, 503),
            summary="Assign the helper 指定帮扶责任人")
async def assign_helper(household_id: IdPath, helper_in: HelperIn, request: Request, session: SessionDep,
                        scope: CadreScope, cipher: CipherDep, endpoint: EndpointDep) -> JSONResponse:
    """``user_id`` must be an active gateway user with role ``helper`` whose region includes the household
    (422 otherwise); ``null`` unassigns. The helper gets an inbox message."""
    household = await households.lock_visible(session, scope=scope, household_id=household_id)
    await service.assign_helper(session=session, scope=scope, services=request.app.state.services,
                                household=household, user_id=helper_in.user_id)
    body = await households.view(session, scope=scope, cipher=cipher, household_id=household_id, endpoint=endpoint)
    return FastJSONResponse(body, headers={"ETag": etag(body["version"])})


@router.post("/measures", status_code=201, response_model=MeasureRead,
             responses=problem_responses(401, 403, 404, 409, 422), summary="Add a 五个一批 measure 添加帮扶措施")
async def add_measure(household_id: IdPath, measure_in: MeasureIn, session: SessionDep, scope: HelperWorkScope,
                      principal: PrincipalDep, idempotency: IdempotencyDep) -> MeasureRead:
    """Cadres, or the household's helper. ``Idempotency-Key`` accepted."""
    household = await households.lock_visible(session, scope=scope, household_id=household_id, for_update=False)
    async def add() -> MeasureRead:
        row = await service.add_measure(session=session, scope=scope, household=household, measure_in=measure_in)
        return MeasureRead(**service.measure_body(row))
    return await idempotency.once(session, owner=principal.sub, body=measure_in, act=add)


@router.get("/measures", response_model=Page[MeasureRead], responses=problem_responses(400, 401, 403, 404),
            summary="Measures 帮扶措施")
async def list_measures(household_id: IdPath, session: SessionDep, scope: ReaderScope, limit: Limit = 50,
                        cursor: Cursor = None) -> Page[MeasureRead]:
    await households.lock_visible(session, scope=scope, household_id=household_id, for_update=False)
    rows, next_cursor = await service.measures_page(session=session, household_id=household_id, limit=limit,
                                                    cursor=cursor)
    return Page(items=[MeasureRead(**service.measure_body(r)) for r in rows], next_cursor=next_cursor)


@router.post("/visits", status_code=201, response_model=VisitRead,
             responses={200: {"model": VisitRead, "description": "Already uploaded: the stored visit"},
                        **problem_responses(401, 403, 404, 409, 422)},
             summary="Upload a visit 上传走访记录")
async def add_visit(household_id: IdPath, visit_in: VisitIn, session: SessionDep,
                    scope: HelperWorkScope) -> JSONResponse:
    """Idempotent on ``client_id``: uploading the same visit again answers 200 with the stored one and creates
    nothing; the same ``client_id`` with other content is a 409."""
    household = await households.lock_visible(session, scope=scope, household_id=household_id, for_update=False)
    row, created = await service.add_visit(session=session, scope=scope, household=household, visit_in=visit_in)
    return FastJSONResponse(VisitRead(**row).model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/visits", response_model=Page[VisitRead], responses=problem_responses(400, 401, 403, 404),
            summary="Visits 走访记录")
async def list_visits(household_id: IdPath, session: SessionDep, scope: ReaderScope, limit: Limit = 50,
                      cursor: Cursor = None) -> Page[VisitRead]:
    await households.lock_visible(session, scope=scope, household_id=household_id, for_update=False)
    rows, next_cursor = await service.visits_page(session=session, household_id=household_id, limit=limit,
                                                  cursor=cursor)
    return Page(items=[VisitRead(**r) for r in rows], next_cursor=next_cursor)
