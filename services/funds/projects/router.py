"""扶贫项目 (CONTRACT §5): proposals, the approval chain, fundings and staged payments.

A write answers what it created (201 and its ``Location``); a project answers its totals, and its fundings and
payments are lists of their own, a page at a time."""

import json
from decimal import Decimal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.deps import SessionDep
from services.funds.glossary import ProjectStatus
from services.funds.projects import service
from services.funds.projects.schemas import (
    FundingIn,
    FundingRead,
    PaymentIn,
    PaymentRead,
    ProjectCreate,
    ProjectRead,
    TransitionIn,
)
from shared.auth import Principal, Role, require
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter(prefix="/api/v1/projects")

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.helper, Role.finance_officer,
                  Role.auditor)
PROPOSERS = require(Role.county_admin, Role.township_officer)
MOVERS = require(Role.county_admin, Role.township_officer, Role.finance_officer)
TREASURY = require(Role.county_admin, Role.finance_officer)


def _share(request: Request) -> Decimal:
    return request.app.state.settings.advance_share


async def _answer(session, p, request: Request, response: Response) -> ProjectRead:
    answer = await service.read(session, p, share=_share(request))
    set_etag(response, answer.version)
    return answer


def _located(answer: JSONResponse | FundingRead | PaymentRead, kind: str, project_id: int, response: Response):
    """``Location`` of a created funding or payment, also on a replayed answer."""
    if isinstance(answer, JSONResponse):
        answer.headers["Location"] = f"/api/v1/projects/{project_id}/{kind}/{json.loads(answer.body)['id']}"
    else:
        response.headers["Location"] = f"/api/v1/projects/{project_id}/{kind}/{answer.id}"
    return answer


async def _page(kind: service.Kind, session: AsyncSession, principal: Principal, project_id: int, limit: int,
                cursor: str | None) -> Page:
    """The fundings or the payments of a project, a page at a time."""
    items, next_cursor = await service.children(session=session, principal=principal, project_id=project_id,
                                                kind=kind, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ProjectRead, responses=problem_responses(401, 403, 422, 503),
             summary="Propose a project 项目申报")
async def propose(project_in: ProjectCreate, session: SessionDep, request: Request, response: Response,
                  idempotency: IdempotencyDep, principal: Principal = PROPOSERS) -> ProjectRead:
    async def create() -> ProjectRead:
        p = await service.create(session=session, principal=principal, services=request.app.state.services,
                                 project_in=project_in)
        response.headers["Location"] = f"/api/v1/projects/{p.id}"
        return await _answer(session, p, request, response)
    return await idempotency.once(session, owner=principal.sub, body=project_in, act=create)


@router.get("", summary="Projects of a region 项目列表",
            response_model=Page[ProjectRead], responses=problem_responses(400, 401, 403, 404, 422))
async def list_projects(session: SessionDep, request: Request, region: RegionCode | None = None,
                        status: ProjectStatus | None = None, limit: Limit = 50, cursor: str | None = None,
                        principal: Principal = READERS) -> Page[ProjectRead]:
    rows, next_cursor = await service.list_(session=session, principal=principal, region=region,
                                            status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=await service.read_many(session, rows, share=_share(request)), next_cursor=next_cursor)


@router.get("/{project_id}", summary="A project 项目详情",
            response_model=ProjectRead, responses=problem_responses(401, 403, 404))
async def get_project(project_id: IdPath, session: SessionDep, request: Request, response: Response,
                      principal: Principal = READERS) -> ProjectRead:
    return await _answer(session, await service.get(session=session, principal=principal, project_id=project_id),
                         request, response)


@router.post("/{project_id}/transitions", response_model=ProjectRead, responses=problem_responses(401, 403, 404, 409),
             summary="approve, reject, start, inspect, accept, settle (报账) or cancel")
async def transition(project_id: IdPath, move: TransitionIn, session: SessionDep, request: Request,
                     response: Response, principal: Principal = MOVERS) -> ProjectRead:
    p = await service.transition(session=session, principal=principal, project_id=project_id, move=move)
    return await _answer(session, p, request, response)


@router.post("/{project_id}/fundings", status_code=201, response_model=FundingRead,
             responses=problem_responses(401, 403, 404, 409, 422),
             summary="Commit money of an allocation with the project's purpose; answers the funding")
async def fund(project_id: IdPath, funding_in: FundingIn, session: SessionDep, response: Response,
               idempotency: IdempotencyDep, principal: Principal = TREASURY) -> FundingRead:
    async def fund() -> FundingRead:
        return service.funding_read(await service.fund(session=session, principal=principal, project_id=project_id,
                                                       funding_in=funding_in))
    answer = await idempotency.once(session, owner=principal.sub, body=funding_in, act=fund)
    return _located(answer, "fundings", project_id, response)


@router.get("/{project_id}/fundings", response_model=Page[FundingRead], responses=problem_responses(400, 401, 403, 404),
            summary="The project's fundings, oldest first")
async def list_fundings(project_id: IdPath, session: SessionDep, limit: Limit = 50, cursor: str | None = None,
                        principal: Principal = READERS) -> Page[FundingRead]:
    return await _page(service.FUNDINGS, session, principal, project_id, limit, cursor)


@router.get("/{project_id}/fundings/{funding_id}", summary="One funding of a project 项目资金占用详情",
            response_model=FundingRead,
            responses=problem_responses(401, 403, 404))
async def get_funding(project_id: IdPath, funding_id: IdPath, session: SessionDep,
                      principal: Principal = READERS) -> FundingRead:
    return await service.child(session=session, principal=principal, project_id=project_id, kind=service.FUNDINGS,
                               child_id=funding_id)


@router.post("/{project_id}/payments", status_code=201, response_model=PaymentRead,
             responses=problem_responses(401, 403, 404, 409, 422),
             summary="Pay a stage of the project; answers the payment")
async def pay(project_id: IdPath, payment_in: PaymentIn, session: SessionDep, request: Request, response: Response,
              idempotency: IdempotencyDep, principal: Principal = TREASURY) -> PaymentRead:
    async def pay() -> PaymentRead:
        return service.payment_read(await service.pay(session=session, principal=principal, project_id=project_id,
                                                      payment_in=payment_in, advance_share=_share(request)))
    answer = await idempotency.once(session, owner=principal.sub, body=payment_in, act=pay)
    return _located(answer, "payments", project_id, response)


@router.get("/{project_id}/payments", response_model=Page[PaymentRead], responses=problem_responses(400, 401, 403, 404),
            summary="The project's payments, oldest first")
async def list_payments(project_id: IdPath, session: SessionDep, limit: Limit = 50, cursor: str | None = None,
                        principal: Principal = READERS) -> Page[PaymentRead]:
    return await _page(service.PAYMENTS, session, principal, project_id, limit, cursor)


@router.get("/{project_id}/payments/{payment_id}", summary="One payment of a project 项目拨付详情",
            response_model=PaymentRead,
            responses=problem_responses(401, 403, 404))
async def get_payment(project_id: IdPath, payment_id: IdPath, session: SessionDep,
                      principal: Principal = READERS) -> PaymentRead:
    return await service.child(session=session, principal=principal, project_id=project_id, kind=service.PAYMENTS,
                               child_id=payment_id)
