"""Allocations, their ledger lines, and 调项 (CONTRACT §5)."""

from fastapi import APIRouter, Request, Response

from services.funds.allocations import service
from services.funds.allocations.schemas import (
    AdjustmentCreate,
    AdjustmentDecision,
    AdjustmentRead,
    AllocationCreate,
    AllocationRead,
    EntryRead,
    ReversalCreate,
)
from services.funds.deps import SessionDep
from services.funds.glossary import AdjustmentStatus, Purpose
from shared.auth import Principal, Role, require
from shared.etag import set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter()

READERS = require(Role.county_admin, Role.township_officer, Role.village_cadre, Role.helper, Role.finance_officer,
                  Role.auditor)
ALLOCATORS = require(Role.county_admin, Role.finance_officer)
APPROVERS = require(Role.county_admin)


@router.post("/api/v1/allocations", status_code=201, response_model=AllocationRead,
             responses=problem_responses(401, 403, 404, 409, 422, 503),
             summary="Allocate earmarked money 资金下达")
async def create_allocation(allocation_in: AllocationCreate, session: SessionDep, request: Request,
                            response: Response, idempotency: IdempotencyDep,
                            principal: Principal = ALLOCATORS) -> AllocationRead:
    async def create() -> AllocationRead:
        allocation = await service.create(session=session, principal=principal,
                                          services=request.app.state.services, allocation_in=allocation_in)
        answer = await service.read(session, allocation)
        set_etag(response, answer.version)
        return answer
    return await idempotency.once(session, owner=principal.sub, body=allocation_in, act=create)


@router.get("/api/v1/allocations", response_model=Page[AllocationRead], responses=problem_responses(401, 403, 404),
            summary="Allocations of a region 资金下达列表")
async def list_allocations(session: SessionDep, region: RegionCode | None = None, purpose: Purpose | None = None,
                           year: int | None = None, limit: Limit = 50, cursor: str | None = None,
                           principal: Principal = READERS) -> Page[AllocationRead]:
    items, next_cursor = await service.list_(session=session, principal=principal, region=region,
                                             purpose=purpose.value if purpose else None, year=year, limit=limit,
                                             cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/api/v1/allocations/{allocation_id}", response_model=AllocationRead,
            responses=problem_responses(401, 403, 404), summary="An allocation and its balances")
async def get_allocation(allocation_id: IdPath, session: SessionDep, response: Response,
                         principal: Principal = READERS) -> AllocationRead:
    answer = await service.read(session, await service.get(session=session, principal=principal,
                                                           allocation_id=allocation_id))
    set_etag(response, answer.version)
    return answer


@router.get("/api/v1/allocations/{allocation_id}/entries", response_model=Page[EntryRead],
            responses=problem_responses(400, 401, 403, 404),
            summary="The ledger entries that moved an allocation 台账, each with all its lines (both sides)")
async def allocation_entries(allocation_id: IdPath, session: SessionDep, limit: Limit = 50,
                             cursor: str | None = None, principal: Principal = READERS) -> Page[EntryRead]:
    items, next_cursor = await service.entries(session=session, principal=principal, allocation_id=allocation_id,
                                               limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/api/v1/allocations/{allocation_id}/reversal", response_model=AllocationRead,
             responses=problem_responses(401, 403, 404, 409, 422),
             summary="Reverse a mistaken allocation 冲正 (a reversing entry, never an edit)")
async def reverse_allocation(allocation_id: IdPath, body: ReversalCreate, session: SessionDep,
                             principal: Principal = APPROVERS) -> AllocationRead:
    allocation = await service.reverse_allocation(session=session, principal=principal, allocation_id=allocation_id,
                                                  reason=body.reason)
    return await service.read(session, allocation)


@router.post("/api/v1/allocations/{allocation_id}/adjustments", status_code=201, response_model=AdjustmentRead,
             responses=problem_responses(401, 403, 404, 409, 422),
             summary="Propose a 调项 (another county_admin approves it)")
async def propose_adjustment(allocation_id: IdPath, adjustment_in: AdjustmentCreate, session: SessionDep,
                             idempotency: IdempotencyDep, principal: Principal = APPROVERS) -> AdjustmentRead:
    async def propose() -> AdjustmentRead:
        return await service.propose(session=session, principal=principal, allocation_id=allocation_id,
                                     adjustment_in=adjustment_in)
    return await idempotency.once(session, owner=principal.sub, body=adjustment_in, act=propose)


@router.get("/api/v1/adjustments", response_model=Page[AdjustmentRead], responses=problem_responses(401, 403),
            summary="调项 proposals, e.g. those awaiting approval (?status=proposed)")
async def list_adjustments(session: SessionDep, status: AdjustmentStatus | None = None, limit: Limit = 50,
                           cursor: str | None = None, principal: Principal = READERS) -> Page[AdjustmentRead]:
    items, next_cursor = await service.list_adjustments(session=session, principal=principal,
                                                        status=status.value if status else None, limit=limit,
                                                        cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/api/v1/adjustments/{adjustment_id}", summary="A 调项 proposal 调项详情", response_model=AdjustmentRead,
            responses=problem_responses(401, 403, 404))
async def get_adjustment(adjustment_id: IdPath, session: SessionDep,
                         principal: Principal = READERS) -> AdjustmentRead:
    return await service.get_adjustment(session=session, principal=principal, adjustment_id=adjustment_id)


@router.post("/api/v1/adjustments/{adjustment_id}/approve", response_model=AdjustmentRead,
             responses=problem_responses(401, 403, 404, 409),
             summary="Approve a 调项 (not by its proposer): the money moves to a new allocation")
async def approve_adjustment(adjustment_id: IdPath, session: SessionDep,
                             principal: Principal = APPROVERS) -> AdjustmentRead:
    return await service.approve(session=session, principal=principal, adjustment_id=adjustment_id)


@router.post("/api/v1/adjustments/{adjustment_id}/reject", response_model=AdjustmentRead,
             responses=problem_responses(401, 403, 404, 409, 422), summary="Reject (or withdraw) a 调项")
async def reject_adjustment(adjustment_id: IdPath, session: SessionDep, body: AdjustmentDecision | None = None,
                            principal: Principal = APPROVERS) -> AdjustmentRead:
    return await service.reject(session=session, principal=principal, adjustment_id=adjustment_id,
                                reason=body.reason if body else "")
