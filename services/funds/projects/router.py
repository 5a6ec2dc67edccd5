"""扶贫项目 (CONTRACT §5): proposals, the approval chain, fundings and staged payments."""

from fastapi import APIRouter, Request, Response

from services.funds.glossary import ProjectStatus
from services.funds.projects import service
from services.funds.projects.schemas import FundingIn, PaymentIn, ProjectCreate, ProjectRead, TransitionIn
from shared.auth import Principal, Role, require
from shared.db import SessionDep
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter(prefix="/api/v1/projects", tags=["funds 扶贫项目"])

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.helper, Role.finance_officer,
                  Role.auditor)
PROPOSERS = require(Role.county_admin, Role.township_officer)
MOVERS = require(Role.county_admin, Role.township_officer, Role.finance_officer)
TREASURY = require(Role.county_admin, Role.finance_officer)


async def _answer(session, p, response: Response) -> ProjectRead:
    answer = await service.read(session, p)
    set_etag(response, answer.version)
    return answer


@router.post("", status_code=201, response_model=ProjectRead, responses=problem_responses(401, 403, 422, 503),
             summary="Propose a project 项目申报")
async def propose(project_in: ProjectCreate, session: SessionDep, request: Request, response: Response,
                  idempotency: IdempotencyDep, principal: Principal = PROPOSERS) -> ProjectRead:
    if replay := await idempotency.replay(session, owner=principal.sub, body=project_in):
        return replay
    p = await service.create(session=session, principal=principal, services=request.app.state.services,
                             project_in=project_in)
    answer = await _answer(session, p, response)
    await idempotency.save(session, status_code=201, response=answer)
    return answer


@router.get("", response_model=Page[ProjectRead], responses=problem_responses(401, 403, 404, 422))
async def list_projects(session: SessionDep, region: RegionCode | None = None, status: ProjectStatus | None = None,
                        limit: Limit = 50, cursor: str | None = None,
                        principal: Principal = READERS) -> Page[ProjectRead]:
    rows, next_cursor = await service.list_(session=session, principal=principal, region=region,
                                            status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=[await service.read(session, p) for p in rows], next_cursor=next_cursor)


@router.get("/{project_id}", response_model=ProjectRead, responses=problem_responses(401, 403, 404))
async def get_project(project_id: IdPath, session: SessionDep, response: Response,
                      principal: Principal = READERS) -> ProjectRead:
    return await _answer(session, await service.get(session=session, principal=principal, project_id=project_id),
                         response)


@router.post("/{project_id}/transitions", response_model=ProjectRead, responses=problem_responses(401, 403, 404, 409),
             summary="approve, reject, start, inspect, accept, settle (报账) or cancel")
async def transition(project_id: IdPath, move: TransitionIn, session: SessionDep, response: Response,
                     principal: Principal = MOVERS) -> ProjectRead:
    p = await service.transition(session=session, principal=principal, project_id=project_id, move=move)
    return await _answer(session, p, response)


@router.post("/{project_id}/fundings", status_code=201, response_model=ProjectRead,
             responses=problem_responses(401, 403, 404, 409, 422),
             summary="Commit money of an allocation with the project's purpose")
async def fund(project_id: IdPath, funding_in: FundingIn, session: SessionDep, response: Response,
               idempotency: IdempotencyDep, principal: Principal = TREASURY) -> ProjectRead:
    if replay := await idempotency.replay(session, owner=principal.sub, body=funding_in):
        return replay
    p = await service.fund(session=session, principal=principal, project_id=project_id, funding_in=funding_in)
    answer = await _answer(session, p, response)
    await idempotency.save(session, status_code=201, response=answer)
    return answer


@router.post("/{project_id}/payments", status_code=201, response_model=ProjectRead,
             responses=problem_responses(401, 403, 404, 409, 422), summary="Pay a stage of the project")
async def pay(project_id: IdPath, payment_in: PaymentIn, session: SessionDep, response: Response,
              idempotency: IdempotencyDep, principal: Principal = TREASURY) -> ProjectRead:
    if replay := await idempotency.replay(session, owner=principal.sub, body=payment_in):
        return replay
    p = await service.pay(session=session, principal=principal, project_id=project_id, payment_in=payment_in)
    answer = await _answer(session, p, response)
    await idempotency.save(session, status_code=201, response=answer)
    return answer
