"""Household payment batches and the partner bank's results (CONTRACT §5)."""

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from services.funds.deps import CipherDep, SessionDep
from services.funds.disbursements import examples, results, service
from services.funds.disbursements.schemas import (
    BankBatchSummary,
    BankDisbursementRead,
    BankLineRead,
    DisbursementCreate,
    DisbursementRead,
    LineRead,
    Publicized,
    PublicizeIn,
    ResultsIn,
    ResultsRead,
    SendIn,
    WarningRead,
)
from services.funds.glossary import DisbursementStatus, LineStatus
from shared.auth import Principal, Role, require
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep, RequiredIdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.responses import FastJSONResponse

router = APIRouter()
bank_router = APIRouter()

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor)
MAKERS = require(Role.county_admin, Role.township_officer, Role.finance_officer)
APPROVERS = require(Role.county_admin, Role.finance_officer)
BANK = require(Role.bank)
LineLimit = Annotated[int, Query(ge=1, le=5000, description="lines per page (a batch holds up to 100,000)")]
Cursor = Annotated[str | None, Query(max_length=512)]


async def _answer(session, d, response: Response) -> DisbursementRead:
    answer = await service.read(session, d)
    set_etag(response, answer.version)
    return answer


@router.post("/api/v1/disbursements", status_code=201, response_model=DisbursementRead,
             responses=problem_responses(401, 403, 404, 409, 413, 422, 503),
             summary="Make a household payment batch 到户补贴 (draft)",
             description="Up to 100,000 lines. Households already paid, or committed in another approved batch, for "
                         "the same purpose in the same year are listed in `warnings`.")
async def create_disbursement(disbursement_in: DisbursementCreate, session: SessionDep, request: Request,
                              response: Response, cipher: CipherDep, idempotency: IdempotencyDep,
                              principal: Principal = MAKERS) -> DisbursementRead:
    body = {"allocation_id": disbursement_in.allocation_id, "title": disbursement_in.title,
            "lines_sha256": service.lines_digest(disbursement_in)}
    async def create() -> DisbursementRead:
        d = await service.create(session=session, principal=principal, services=request.app.state.services,
                                 cipher=cipher, disbursement_in=disbursement_in)
        return await _answer(session, d, response)
    return await idempotency.once(session, owner=principal.sub, body=body, act=create)


@router.get("/api/v1/disbursements", summary="Payment batches of a region 发放批次列表",
            response_model=Page[DisbursementRead], responses=problem_responses(401, 403))
async def list_disbursements(session: SessionDep, status: DisbursementStatus | None = None,
                             allocation_id: IdPath | None = None, limit: Limit = 50, cursor: str | None = None,
                             principal: Principal = READERS) -> Page[DisbursementRead]:
    rows, next_cursor = await service.list_(session=session, principal=principal,
                                            status=status.value if status else None, allocation_id=allocation_id,
                                            limit=limit, cursor=cursor)
    return Page(items=await service.read_many(session, rows), next_cursor=next_cursor)


@router.get("/api/v1/disbursements/{disbursement_id}", response_model=DisbursementRead,
            responses=problem_responses(401, 403, 404), summary="A batch: totals, counts and warnings")
async def get_disbursement(disbursement_id: IdPath, session: SessionDep, response: Response,
                           principal: Principal = READERS) -> DisbursementRead:
    return await _answer(session, await service.get(session=session, principal=principal,
                                                    disbursement_id=disbursement_id), response)


@router.get("/api/v1/disbursements/{disbursement_id}/lines", response_model=Page[LineRead],
            responses=problem_responses(400, 401, 403, 404), summary="A batch's lines, in order")
async def get_lines(disbursement_id: IdPath, session: SessionDep, status: LineStatus | None = None,
                    limit: LineLimit = 500, cursor: Cursor = None, principal: Principal = READERS) -> Page[LineRead]:
    d = await service.get(session=session, principal=principal, disbursement_id=disbursement_id)
    rows, next_cursor = await service.lines(session=session, d=d, status=status.value if status else None,
                                            limit=limit, cursor=cursor)
    return Page(items=[service.line_read(x) for x in rows], next_cursor=next_cursor)


@router.get("/api/v1/disbursements/{disbursement_id}/warnings", response_model=Page[WarningRead],
            responses=problem_responses(400, 401, 403, 404), summary="A batch's possible duplicate payments")
async def get_warnings(disbursement_id: IdPath, session: SessionDep, limit: Limit = 50, cursor: Cursor = None,
                       principal: Principal = READERS) -> Page[WarningRead]:
    d = await service.get(session=session, principal=principal, disbursement_id=disbursement_id)
    items, next_cursor = await service.warnings(session=session, d=d, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/api/v1/disbursements/{disbursement_id}/publicize", response_model=Publicized,
             responses=problem_responses(401, 403, 404, 409), summary="Open the batch's 公示")
async def publicize(disbursement_id: IdPath, session: SessionDep, request: Request, body: PublicizeIn | None = None,
                    principal: Principal = MAKERS) -> Publicized:
    notice_id = await service.publicize(session=session, principal=principal, services=request.app.state.services,
                                        disbursement_id=disbursement_id,
                                        days=body.days if body else None,
                                        min_days=request.app.state.settings.notice_min_days)
    return Publicized(notice_id=notice_id)


@router.post("/api/v1/disbursements/{disbursement_id}/approve", response_model=DisbursementRead,
             responses=problem_responses(401, 403, 404, 409),
             summary="Approve after the 公示 (not by its creator): the money is committed")
async def approve(disbursement_id: IdPath, session: SessionDep, response: Response,
                  principal: Principal = APPROVERS) -> DisbursementRead:
    d = await service.approve(session=session, principal=principal, disbursement_id=disbursement_id)
    return await _answer(session, d, response)


@router.post("/api/v1/disbursements/{disbursement_id}/send", response_model=DisbursementRead,
             responses=problem_responses(401, 403, 404, 409, 422), summary="Hand the batch to a partner bank")
async def send(disbursement_id: IdPath, body: SendIn, session: SessionDep, response: Response,
               principal: Principal = APPROVERS) -> DisbursementRead:
    d = await service.send(session=session, principal=principal, disbursement_id=disbursement_id,
                           bank_code=body.bank_code)
    return await _answer(session, d, response)


@bank_router.get("/api/v1/bank/disbursements", response_model=Page[BankBatchSummary],
                 responses=examples.READ_PROBLEMS | examples.ok(examples.BATCHES),
                 summary="Batches sent to my bank, with their control totals")
async def bank_batches(session: SessionDep, status: DisbursementStatus | None = None, limit: Limit = 50,
                       cursor: Cursor = None, principal: Principal = BANK) -> Page[BankBatchSummary]:
    rows, next_cursor = await results.bank_list(session=session, principal=principal,
                                                status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=await results.summaries(session, rows), next_cursor=next_cursor)


@bank_router.get("/api/v1/bank/disbursements/{disbursement_id}", response_model=BankDisbursementRead,
                 responses=examples.READ_PROBLEMS | examples.ok(examples.BATCH),
                 summary="A batch to pay: control totals and the first lines", description=examples.BATCH_DESCRIPTION)
async def bank_batch(disbursement_id: IdPath, session: SessionDep, cipher: CipherDep,
                     principal: Principal = BANK) -> BankDisbursementRead:
    d = await results.for_bank(session=session, principal=principal, disbursement_id=disbursement_id)
    return await results.bank_read(session, d, cipher)


@bank_router.get("/api/v1/bank/disbursements/{disbursement_id}/lines", response_model=Page[BankLineRead],
                 responses=examples.READ_PROBLEMS | examples.ok(examples.LINES),
                 summary="A batch's lines to pay, page by page, with full accounts and end_to_end_id")
async def bank_batch_lines(disbursement_id: IdPath, session: SessionDep, cipher: CipherDep,
                           status: LineStatus | None = None, limit: LineLimit = 500, cursor: Cursor = None,
                           principal: Principal = BANK) -> Page[BankLineRead]:
    d = await results.for_bank(session=session, principal=principal, disbursement_id=disbursement_id)
    items, next_cursor = await results.bank_lines(session=session, d=d, cipher=cipher,
                                                  status=status.value if status else None, limit=limit,
                                                  cursor=cursor)
    return FastJSONResponse({"items": items, "next_cursor": next_cursor})


@bank_router.post("/api/v1/bank/disbursements/{disbursement_id}/results", response_model=ResultsRead,
                  responses=examples.RESULTS_PROBLEMS | examples.ok(examples.RESULTS_OUT),
                  summary="Post payment results (Idempotency-Key required)", description=examples.RESULTS_DESCRIPTION)
async def bank_results(disbursement_id: IdPath, session: SessionDep, cipher: CipherDep,
                       idempotency: RequiredIdempotencyDep,
                       results_in: Annotated[ResultsIn, Body(openapi_examples={"paid_and_failed": {
                           "summary": "one line paid, one failed", "value": examples.RESULTS_IN}})],
                       principal: Principal = BANK) -> ResultsRead:
    async def post() -> dict:
        return await results.post_results(session=session, principal=principal, cipher=cipher,
                                          disbursement_id=disbursement_id, results=results_in)
    answer = await idempotency.once(session, owner=principal.sub, body={"sha256": results.results_digest(results_in)},
                                    act=post, status_code=200)
    return answer if isinstance(answer, Response) else FastJSONResponse(answer)
