"""扶贫小额信贷 (CONTRACT §7): the banks' loan events (and their refusals), loans, 贴息 and loan statistics."""

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from services.funds.deps import CipherDep, SessionDep
from services.funds.glossary import LoanStatus
from services.funds.loans import examples, rejections, service, subsidy
from services.funds.loans.schemas import (LoanEventAnswer, LoanEventIn, LoanEventRejectionRead, LoanRead, LoanStats,
                                          SubsidyIn, SubsidyRead)
from shared.auth import Principal, Role, require
from shared.http_types import Limit
from shared.idempotency import IdempotencyDep, RequiredIdempotencyDep
from shared.pagination import Page
from shared.problems import Problem, problem_responses, validation_problem
from shared.regions import RegionCode
from shared.responses import FastJSONResponse

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor,
                  Role.bank)
OFFICERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor)
BANK = require(Role.bank)
TREASURY = require(Role.county_admin, Role.finance_officer)
KEPT_STATUSES = frozenset({404, 409, 422})
log = logging.getLogger("jingzhun.funds.loans")


class KeepsRefusals(APIRoute):
    """A bank's loan event answered with a problem (404, 409, 422, whether from validation or the rules) is kept
    with that problem (rejections.py), in a transaction of its own, and then answered as before."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (Problem, RequestValidationError) as exc:
                problem = validation_problem(exc) if isinstance(exc, RequestValidationError) else exc
                principal = getattr(request.state, "principal", None)
                if problem.status in KEPT_STATUSES and principal is not None and principal.role == "bank":
                    body = rejections.posted(await request.body())
                    if body is not None:
                        try:
                            async with request.app.state.db.sessionmaker() as session:
                                await rejections.record(session, principal=principal, body=body,
                                                        problem=problem.body())
                                await session.commit()
                        except Exception:       # noqa: BLE001 - the answer stays the problem it was
                            log.exception("could not keep the refused loan event %s", body.get("event_id"))
                raise

        return route


bank_events = APIRouter(route_class=KeepsRefusals)
router = APIRouter()


@bank_events.post(
    "/api/v1/bank/loan-events", response_model=LoanEventAnswer, status_code=201,
    responses={**problem_responses(400, 401, 403, 503), **examples.ANSWERS, **examples.problem_docs()},
    summary="Post a loan event 银行报送贷款事件 (Idempotency-Key required; a known event_id changes nothing)")
async def post_loan_event(event_in: Annotated[LoanEventIn, Body(openapi_examples=examples.REQUESTS)],
                          session: SessionDep, request: Request, response: Response, cipher: CipherDep,
                          idempotency: RequiredIdempotencyDep, principal: Principal = BANK) -> Response:
    """One event of one loan, as the bank's core system saw it. Events may arrive late, out of order or twice:
    the loan is the result of its events in ``occurred_at`` order (events at the same moment in the order
    rated, issued, repaid, overdue, extended, settled, defaulted, then by ``event_id``), and a known
    ``event_id`` (same body) answers 200 with ``stored: false``. Fields by kind: ``rated`` needs
    ``credit_line`` (``rating`` optional); ``issued`` ``amount``, ``rate`` (yearly, at most 0.36) and
    ``term_months``; ``repaid`` ``amount``; ``extended`` ``term_months`` (``rate`` optional); ``overdue``,
    ``settled`` and ``defaulted`` nothing more. Money is a string with two decimals; ``occurred_at`` carries its
    offset. The borrower (``id_number``) must be a member of a 建档立卡 household in your bank's region.

    Refused: an unknown borrower or bad field (422), another bank's loan (404), an event the loan's history makes
    impossible (409 ``impossible-event``: a second issue, anything before the issue or after the loan ended, a
    repayment above what is outstanding), an ``event_id`` reused with other content (409). Every refused event
    is kept with its problem: ``GET /api/v1/bank/loan-events/rejected``."""
    async def post() -> dict:
        stored, loan, events = await service.post_event(session=session, principal=principal,
                                                        services=request.app.state.services, cipher=cipher,
                                                        event_in=event_in,
                                                        risk_share=request.app.state.settings.risk_share)
        response.status_code = 201 if stored else 200
        if stored:
            await service.audit_event(session=session, principal=principal, event_in=event_in, loan=loan)
        return LoanEventAnswer(stored=stored, loan=service.read(loan, events)).model_dump(mode="json")
    # dumped once, kept and answered as it is (not validated again against the response model)
    answer = await idempotency.once(session, owner=principal.sub, body=event_in, act=post,
                                    status_code=lambda: response.status_code)
    return answer if isinstance(answer, Response) else FastJSONResponse(answer, status_code=response.status_code)


@router.get("/api/v1/bank/loan-events/rejected", response_model=Page[LoanEventRejectionRead],
            responses={**problem_responses(400, 401, 403, 422),
                       200: {"content": {"application/json": {"example": examples.REJECTED}}}},
            summary="Your refused loan events 被拒绝的贷款事件 (newest first)")
async def rejected_loan_events(session: SessionDep, limit: Limit = 50, cursor: str | None = None,
                               principal: Principal = BANK) -> Page[LoanEventRejectionRead]:
    """The loan events your bank posted that were refused, each ``event_id`` once (``attempts`` counts the posts),
    with the problem it was answered with; ``accepted_at`` once a later post of it was stored. A bank sees only its
    own."""
    rows, next_cursor = await rejections.list_(session=session, principal=principal, limit=limit, cursor=cursor)
    return Page(items=[LoanEventRejectionRead.model_validate(r, from_attributes=True) for r in rows],
                next_cursor=next_cursor)


@router.get("/api/v1/loans", summary="Micro-loans of a region 贷款列表",
            response_model=Page[LoanRead], responses=problem_responses(401, 403, 404, 422))
async def list_loans(session: SessionDep, region: RegionCode | None = None, status: LoanStatus | None = None,
                     limit: Limit = 50, cursor: str | None = None, principal: Principal = READERS) -> Page[LoanRead]:
    """``status``: rated 已授信, issued 正常, repaying 还款中, overdue 逾期, extended 展期, settled 已结清,
    defaulted 已代偿."""
    rows, next_cursor = await service.list_(session=session, principal=principal, region=region,
                                            status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=[service.read(loan, events) for loan, events in rows], next_cursor=next_cursor)


@router.get("/api/v1/loans/{loan_no}", summary="A loan and its events 贷款详情",
            response_model=LoanRead, responses=problem_responses(401, 403, 404))
async def get_loan(loan_no: str, session: SessionDep, principal: Principal = READERS) -> LoanRead:
    loan, events = await service.get(session=session, principal=principal, loan_no=loan_no[:64])
    return service.read(loan, events)


@router.post("/api/v1/loans/interest-subsidies", response_model=SubsidyRead,
             responses=problem_responses(401, 403, 404, 409, 422, 503),
             summary="贴息 for a period, paid from a loan_interest allocation (the same days are never paid twice)")
async def interest_subsidies(subsidy_in: SubsidyIn, session: SessionDep, request: Request,
                             idempotency: IdempotencyDep, principal: Principal = TREASURY) -> Response:
    """A day accrues only if the borrower's household was ``registered``, ``returned`` or ``exited`` on that day
    (its status history in the registry), so registering a household later pays no interest for the days
    before."""
    async def pay() -> dict:
        return await subsidy.subsidize(session=session, principal=principal, services=request.app.state.services,
                                       subsidy_in=subsidy_in)
    answer = await idempotency.once(session, owner=principal.sub, body=subsidy_in, act=pay, status_code=200)
    return answer if isinstance(answer, Response) else FastJSONResponse(answer)


@router.get("/api/v1/stats/loans", response_model=LoanStats, responses=problem_responses(401, 403, 404, 422),
            summary="Loan statistics of a region 小额信贷统计")
async def loan_stats(session: SessionDep, region: RegionCode | None = None,
                     principal: Principal = OFFICERS) -> LoanStats:
    return await service.stats(session=session, principal=principal, region=region)
