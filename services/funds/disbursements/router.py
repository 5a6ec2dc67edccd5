"""Household payment batches and the partner bank's results (CONTRACT §5)."""

from fastapi import APIRouter, Request, Response

from services.funds.deps import CipherDep, SessionDep
from services.funds.disbursements import service
from services.funds.disbursements.schemas import (BankDisbursementRead, DisbursementCreate, DisbursementRead,
                                                  Publicized, PublicizeIn, ResultsIn, ResultsRead, SendIn)
from services.funds.glossary import DisbursementStatus
from shared.auth import Principal, Role, require
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep, RequiredIdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses

router = APIRouter(tags=["funds 到户补贴"])
bank_router = APIRouter(tags=["banks 合作银行"])

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.finance_officer, Role.auditor)
MAKERS = require(Role.county_admin, Role.township_officer, Role.finance_officer)
APPROVERS = require(Role.county_admin, Role.finance_officer)
BANK = require(Role.bank)


async def _answer(session, d, response: Response) -> DisbursementRead:
    answer = await service.read(session, d)
    set_etag(response, answer.version)
    return answer


@router.post("/api/v1/disbursements", status_code=201, response_model=DisbursementRead,
             responses=problem_responses(401, 403, 404, 409, 422, 503),
             summary="Make a household payment batch 到户补贴 (draft)")
async def create_disbursement(disbursement_in: DisbursementCreate, session: SessionDep, request: Request,
                              response: Response, cipher: CipherDep, idempotency: IdempotencyDep,
                              principal: Principal = MAKERS) -> DisbursementRead:
    if replay := await idempotency.replay(session, owner=principal.sub, body=disbursement_in):
        return replay
    d = await service.create(session=session, principal=principal, services=request.app.state.services,
                             cipher=cipher, disbursement_in=disbursement_in)
    answer = await _answer(session, d, response)
    await idempotency.save(session, status_code=201, response=answer)
    return answer


@router.get("/api/v1/disbursements", response_model=Page[DisbursementRead], responses=problem_responses(401, 403))
async def list_disbursements(session: SessionDep, status: DisbursementStatus | None = None,
                             allocation_id: IdPath | None = None, limit: Limit = 50, cursor: str | None = None,
                             principal: Principal = READERS) -> Page[DisbursementRead]:
    rows, next_cursor = await service.list_(session=session, principal=principal,
                                            status=status.value if status else None, allocation_id=allocation_id,
                                            limit=limit, cursor=cursor)
    return Page(items=await service.read_many(session, rows), next_cursor=next_cursor)


@router.get("/api/v1/disbursements/{disbursement_id}", response_model=DisbursementRead,
            responses=problem_responses(401, 403, 404))
async def get_disbursement(disbursement_id: IdPath, session: SessionDep, response: Response,
                           principal: Principal = READERS) -> DisbursementRead:
    return await _answer(session, await service.get(session=session, principal=principal,
                                                    disbursement_id=disbursement_id), response)


@router.post("/api/v1/disbursements/{disbursement_id}/publicize", response_model=Publicized,
             responses=problem_responses(401, 403, 404, 409), summary="Open the batch's 公示")
async def publicize(disbursement_id: IdPath, session: SessionDep, request: Request, cipher: CipherDep,
                    body: PublicizeIn | None = None, principal: Principal = MAKERS) -> Publicized:
    notice_id = await service.publicize(session=session, principal=principal, cipher=cipher,
                                        disbursement_id=disbursement_id, days=body.days if body else None,
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


@bank_router.get("/api/v1/bank/disbursements", response_model=Page[BankDisbursementRead],
                 responses=problem_responses(401, 403), summary="Batches sent to my bank")
async def bank_batches(session: SessionDep, cipher: CipherDep, status: DisbursementStatus | None = None,
                       limit: Limit = 50, cursor: str | None = None,
                       principal: Principal = BANK) -> Page[BankDisbursementRead]:
    rows, next_cursor = await service.bank_list(session=session, principal=principal,
                                                status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=[await service.bank_read(session, d, cipher) for d in rows], next_cursor=next_cursor)


@bank_router.get("/api/v1/bank/disbursements/{disbursement_id}", response_model=BankDisbursementRead,
                 responses=problem_responses(401, 403, 404), summary="A batch to pay: lines with full accounts")
async def bank_batch(disbursement_id: IdPath, session: SessionDep, cipher: CipherDep,
                     principal: Principal = BANK) -> BankDisbursementRead:
    d = await service.for_bank(session=session, principal=principal, disbursement_id=disbursement_id)
    return await service.bank_read(session, d, cipher)


@bank_router.post("/api/v1/bank/disbursements/{disbursement_id}/results", response_model=ResultsRead,
                  responses=problem_responses(400, 401, 403, 404, 409, 422),
                  summary="Post payment results (Idempotency-Key required)")
async def bank_results(disbursement_id: IdPath, results: ResultsIn, session: SessionDep, cipher: CipherDep,
                       idempotency: RequiredIdempotencyDep, principal: Principal = BANK) -> ResultsRead:
    if replay := await idempotency.replay(session, owner=principal.sub, body=results):
        return replay
    answer = await service.post_results(session=session, principal=principal, cipher=cipher,
                                        disbursement_id=disbursement_id, results=results)
    await idempotency.save(session, status_code=200, response=answer)
    return answer
