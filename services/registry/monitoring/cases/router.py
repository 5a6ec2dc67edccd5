from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.registry.deps import CadreScope, CipherDep, ReaderScope
from services.registry.monitoring.cases import service
from services.registry.monitoring.cases.glossary import CaseStatus, Category
from services.registry.monitoring.cases.schemas import CaseCreate, CaseRead, CaseSummary, CaseTransitionIn
from shared.auth import PrincipalDep
from shared.db import SessionDep
from shared.etag import etag
from shared.http_types import IdPath, Limit
from shared.idempotency import REPLAYED, IdempotencyDep, id_only
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode
from shared.responses import FastJSONResponse

router = APIRouter(prefix="/api/v1/monitoring/cases", tags=["monitoring 防返贫监测"])

Cursor = Annotated[str | None, Query(max_length=512)]


def _answer(body: dict, status_code: int = 200, **headers: str) -> JSONResponse:
    return FastJSONResponse(body, status_code=status_code, headers={"ETag": etag(body["version"]), **headers})


@router.post("", status_code=201, response_model=CaseRead, responses=problem_responses(401, 403, 404, 409, 422),
             summary="Report a household for monitoring 监测对象申报")
async def create_case(case_in: CaseCreate, session: SessionDep, scope: CadreScope, principal: PrincipalDep,
                      idempotency: IdempotencyDep) -> JSONResponse:
    """A village cadre (or a county admin) reports a household of their region; the case starts ``reported``.
    The category must fit the household's status (422 naming the rule otherwise); a household has at most one
    open case (409 naming it). ``Idempotency-Key`` honoured."""
    async def show(case_id: int, status_code: int, **headers: str) -> JSONResponse:
        return _answer(await service.read(session, scope=scope, case_id=case_id), status_code, **headers)

    async def create() -> JSONResponse:
        case_id = await service.create(session=session, scope=scope, case_in=case_in)
        return await show(case_id, 201, Location=f"/api/v1/monitoring/cases/{case_id}")
    return await idempotency.once(session, owner=principal.sub, body=case_in, act=create, kept=id_only,
                                  replayed=lambda kept, status: show(kept["id"], status, **REPLAYED))


@router.get("", response_model=Page[CaseSummary], responses=problem_responses(400, 401, 403, 422),
            summary="Monitoring cases 监测对象列表")
async def list_cases(session: SessionDep, scope: ReaderScope, region: RegionCode | None = None,
                     status: CaseStatus | None = None, category: Category | None = None, limit: Limit = 50,
                     cursor: Cursor = None) -> JSONResponse:
    """Cases in your region (a helper: of the households assigned to you), oldest first."""
    items, next_cursor = await service.list_page(session=session, scope=scope, region=region,
                                                 status=status and status.value,
                                                 category=category and category.value, limit=limit, cursor=cursor)
    return FastJSONResponse({"items": items, "next_cursor": next_cursor})


@router.get("/{case_id}", response_model=CaseRead, responses=problem_responses(401, 403, 404),
            summary="A monitoring case with its history 监测对象详情")
async def get_case(case_id: IdPath, session: SessionDep, scope: ReaderScope) -> JSONResponse:
    return _answer(await service.read(session, scope=scope, case_id=case_id))


@router.post("/{case_id}/transitions", response_model=CaseRead,
             responses=problem_responses(401, 403, 404, 409, 422, 503), summary="A step of the case 监测流程")
async def transition(case_id: IdPath, transition_in: CaseTransitionIn, request: Request, session: SessionDep,
                     scope: CadreScope, cipher: CipherDep) -> JSONResponse:
    """Each step by its role (a county admin may take all; 403 otherwise): ``verify`` (village cadre; 409 listing
    what is ``missing`` of the year's income and assurances), ``publicize`` (township officer; opens a 公示 of
    kind ``monitoring`` for ``days`` days), ``approve`` (county; after the 公示 closed with no upheld objection,
    409 while it is open; the household is a 监测对象 from then, or, after the elimination 公示, 风险消除),
    ``propose_elimination`` (county; 409 listing every ``unmet`` condition: 6 months since approval, income
    above the year's 监测标准, the six assurances, a measure since approval, not a household without labour),
    ``reject`` (township officer; from any open status, with ``notes``). An illegal move is 409."""
    await service.transition(session=session, scope=scope, cipher=cipher, services=request.app.state.services,
                             case_id=case_id, transition_in=transition_in)
    return _answer(await service.read(session, scope=scope, case_id=case_id))
