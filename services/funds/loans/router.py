"""扶贫小额信贷 (CONTRACT §7): the banks' loan events, loans, 贴息 and loan statistics."""

from fastapi import APIRouter, Request, Response

from services.funds.deps import CipherDep, SessionDep
from services.funds.glossary import LoanStatus
from services.funds.loans import service
from services.funds.loans.schemas import (
    LoanEventAnswer,
    LoanEventIn,
    LoanRead,
    LoanStats,
    SubsidyIn,
    SubsidyRead,
)
from shared.auth import Principal, Role, require
from shared.http_types import Limit
from shared.idempotency import IdempotencyDep, RequiredIdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter(tags=["loans 小额信贷"])

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor,
                  Role.bank)
OFFICERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor)
BANK = require(Role.bank)
TREASURY = require(Role.county_admin, Role.finance_officer)


@router.post("/api/v1/bank/loan-events", response_model=LoanEventAnswer, status_code=201,
             responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
             summary="Post a loan event (Idempotency-Key required; a known event_id changes nothing)")
async def post_loan_event(event_in: LoanEventIn, session: SessionDep, request: Request, response: Response,
                          cipher: CipherDep, idempotency: RequiredIdempotencyDep,
                          principal: Principal = BANK) -> LoanEventAnswer:
    if replay := await idempotency.replay(session, owner=principal.sub, body=event_in):
        return replay
    stored, loan, events = await service.post_event(session=session, principal=principal,
                                                    services=request.app.state.services, cipher=cipher,
                                                    event_in=event_in)
    answer = LoanEventAnswer(stored=stored, loan=service.read(loan, events))
    response.status_code = 201 if stored else 200
    await idempotency.save(session, status_code=response.status_code, response=answer)
    return answer


@router.get("/api/v1/loans", response_model=Page[LoanRead], responses=problem_responses(401, 403, 404, 422))
async def list_loans(session: SessionDep, region: RegionCode | None = None, status: LoanStatus | None = None,
                     limit: Limit = 50, cursor: str | None = None, principal: Principal = READERS) -> Page[LoanRead]:
    rows, next_cursor = await service.list_(session=session, principal=principal, region=region,
                                            status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=[service.read(loan, events) for loan, events in rows], next_cursor=next_cursor)


@router.get("/api/v1/loans/{loan_no}", response_model=LoanRead, responses=problem_responses(401, 403, 404))
async def get_loan(loan_no: str, session: SessionDep, principal: Principal = READERS) -> LoanRead:
    loan, events = await service.get(session=session, principal=principal, loan_no=loan_no[:64])
    return service.read(loan, events)


@router.post("/api/v1/loans/interest-subsidies", response_model=SubsidyRead,
             responses=problem_responses(401, 403, 404, 409, 422, 503),
             summary="贴息 for a period, paid from a loan_interest allocation (the same days are never paid twice)")
async def interest_subsidies(subsidy_in: SubsidyIn, session: SessionDep, request: Request,
                             idempotency: IdempotencyDep, principal: Principal = TREASURY) -> SubsidyRead:
    if replay := await idempotency.replay(session, owner=principal.sub, body=subsidy_in):
        return replay
    answer = await service.subsidize(session=session, principal=principal, services=request.app.state.services,
                                     subsidy_in=subsidy_in)
    await idempotency.save(session, status_code=200, response=answer)
    return answer


@router.get("/api/v1/stats/loans", response_model=LoanStats, responses=problem_responses(401, 403, 404, 422),
            summary="Loan statistics of a region 小额信贷统计")
async def loan_stats(session: SessionDep, region: RegionCode | None = None,
                     principal: Principal = OFFICERS) -> LoanStats:
    return await service.stats(session=session, principal=principal, region=region)
