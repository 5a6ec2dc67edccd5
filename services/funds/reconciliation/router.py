"""对账 (CONTRACT §5 Reconciliation): the bank posts its statements; officers read each batch's breaks."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from services.funds.deps import SessionDep
from services.funds.reconciliation import service
from services.funds.reconciliation.schemas import (
    ReconciliationRead,
    StatementIn,
    StatementRead,
)
from shared.auth import Principal, Role, require
from shared.http_types import IdPath, Limit
from shared.idempotency import RequiredIdempotencyDep
from shared.problems import (BadRequest, Conflict, Forbidden, PayloadTooLarge, Unauthorized, Unprocessable,
                             problem_responses)

router = APIRouter()
bank_router = APIRouter()

READERS = require(Role.county_admin, Role.township_officer, Role.finance_officer, Role.auditor)
BANK = require(Role.bank)

STATEMENT_EXAMPLES = {
    "bookings": {"summary": "A day's bookings, one of them a reversal (退回)", "value": {
        "statement_id": "NXRCU-20200615-001", "booked_on": "2020-06-15", "entries": [
            {"end_to_end_id": "JZ-12-3456", "amount": "1500.00", "booked_on": "2020-06-15",
             "bank_ref": "NX20200615000123", "reversal": False},
            {"end_to_end_id": "JZ-12-3457", "amount": "800.00", "booked_on": "2020-06-15",
             "bank_ref": "NX20200615000124", "reversal": False},
            {"end_to_end_id": "JZ-11-3301", "amount": "1000.00", "booked_on": "2020-06-15",
             "bank_ref": "NX20200615000125", "reversal": True}]}},
    "empty": {"summary": "A day with nothing booked", "value": {
        "statement_id": "NXRCU-20200616-001", "booked_on": "2020-06-16", "entries": []}},
}
_ANSWER = {"statement_id": "NXRCU-20200615-001", "bank_code": "NXRCU", "booked_on": "2020-06-15",
           "received_at": "2020-06-16T08:00:02+08:00", "duplicate": False, "entries": 3, "total": "2300.00",
           "reversed_total": "1000.00",
           "matched": 3, "unmatched": 0, "unmatched_end_to_end_ids": [], "disbursement_ids": [11, 12], "reversed": 1}


_E2E = ("Value error, end_to_end_id must be the line reference sent with the batch, "
        "\"JZ-<disbursement id>-<line id>\", such as \"JZ-12-3456\"")
STATEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "Stored; reversals of paid lines re-opened their money",
          "content": {"application/json": {"example": _ANSWER}}},
    200: {"model": StatementRead, "description": "This bank sent this statement before: nothing changed",
          "content": {"application/json": {"example": _ANSWER | {"duplicate": True}}}},
    **problem_responses(503, examples={
        400: [BadRequest("Request body is not valid JSON")],
        401: [Unauthorized("Token is invalid or expired")],
        403: [Forbidden("Your role may not do this")],
        409: [Conflict("Statement 'NXRCU-20200615-001' was received before with other content; a statement never "
                       "changes: send corrections under a new statement_id", slug="statement-id-reused"),
              Conflict("Idempotency-Key was already used with another request", slug="idempotency-key-reused")],
        413: [PayloadTooLarge("body exceeds 25 MB")],
        422: [Unprocessable("One or more fields are invalid",
                            errors=[{"loc": ["body", "entries", 0, "end_to_end_id"], "msg": _E2E}]),
              Unprocessable("One or more fields are invalid",
                            errors=[{"loc": ["header", "idempotency-key"], "msg": "Field required"}])]}),
}
STATEMENT_RESPONSES[409]["description"] = ("The statement id was received before with other content "
                                           "(`statement-id-reused`), or the Idempotency-Key was used with another body")
STATEMENT_RESPONSES[422]["description"] = ("A field is invalid: a malformed end_to_end_id, an amount, more than "
                                           "100,000 entries, or no Idempotency-Key")


@bank_router.post("/api/v1/bank/statements", status_code=201, response_model=StatementRead,
                  responses=STATEMENT_RESPONSES,
                  summary="Post a bank statement 对账单 (Idempotency-Key required; a known statement_id changes nothing)",
                  description="A camt.053-like statement of what the bank booked for the batches sent to it, up to "
                              "100,000 entries. `end_to_end_id` is the line reference sent with the batch "
                              "(`JZ-<disbursement id>-<line id>`). Entries naming no batch sent to this bank are "
                              "counted as `unmatched` and reconcile nothing. An entry with `reversal: true` for a "
                              "paid line, for the line's amount, re-opens that money in the allocation (once).")
async def post_statement(statement_in: Annotated[StatementIn, Body(openapi_examples=STATEMENT_EXAMPLES)],
                         session: SessionDep, response: Response, idempotency: RequiredIdempotencyDep,
                         principal: Principal = BANK) -> StatementRead:
    prepared = service.prepare(statement_in)
    # the key is compared by the statement's digest: hashing 100,000 entries' JSON again would cost seconds
    async def receive() -> StatementRead:
        answer, stored = await service.receive(session=session, principal=principal, prepared=prepared)
        response.status_code = 201 if stored else 200
        return answer
    return await idempotency.once(session, owner=principal.sub, body={"statement": prepared.digest}, act=receive,
                                  status_code=lambda: response.status_code)


@router.get("/api/v1/disbursements/{disbursement_id}/reconciliation", response_model=ReconciliationRead,
            responses=problem_responses(400, 401, 403, 404),
            summary="对账: the batch against its bank's statements, with its breaks a page at a time",
            description="`status`: `unreconciled` 未对账 (no statement of the batch's bank names it yet), `balanced` "
                        "账实相符 (statements name it and no break), `breaks` 存在差异. Break kinds, per line: "
                        "`paid_not_booked` 已发放未入账 (paid by the bank's results, on no statement), "
                        "`booked_not_paid` 已入账未发放 (booked, but the line is failed, not settled, struck or not "
                        "in the batch), `amount_mismatch` 金额不符 (bookings adding up to another amount, or a "
                        "reversal for another amount: nothing re-opened), `reversed` 银行退回 (the bank reversed a "
                        "paid line: its money is back in the allocation's available, once). `counts` cover the "
                        "whole batch; `breaks` come in (line_id, kind) order, `limit` at a time.")
async def get_reconciliation(disbursement_id: IdPath, session: SessionDep, limit: Limit = 50,
                             cursor: str | None = None, principal: Principal = READERS) -> ReconciliationRead:
    return await service.reconciliation(session=session, principal=principal, disbursement_id=disbursement_id,
                                        limit=limit, cursor=cursor)
