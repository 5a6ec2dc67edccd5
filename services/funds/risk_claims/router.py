"""风险补偿 claims (CONTRACT §7): list, read, review, approve (a second county_admin), reject."""

from fastapi import APIRouter, Request, Response

from services.funds.glossary import RiskClaimStatus
from services.funds.risk_claims import service
from services.funds.risk_claims.schemas import RejectIn, ReviewIn, RiskClaimRead
from shared.auth import Principal, Role, require
from shared.db import SessionDep
from shared.etag import check_if_match, set_etag
from shared.http_types import IdPath, Limit
from shared.idempotency import IdempotencyDep
from shared.pagination import Page
from shared.problems import problem_responses
from shared.regions import RegionCode

router = APIRouter(prefix="/api/v1/risk-claims")

READERS = require(Role.county_admin, Role.township_officer, Role.finance_officer, Role.auditor)
COUNTY = require(Role.county_admin)


@router.get("", response_model=Page[RiskClaimRead], responses=problem_responses(400, 401, 403, 404, 422),
            summary="Risk compensation claims 风险补偿申请")
async def list_claims(session: SessionDep, region: RegionCode | None = None, status: RiskClaimStatus | None = None,
                      limit: Limit = 50, cursor: str | None = None,
                      principal: Principal = READERS) -> Page[RiskClaimRead]:
    """A ``defaulted`` (代偿) loan event opens its loan's claim. ``status``: open 待审核, reviewed 已审核, paid 已补偿,
    rejected 已驳回."""
    rows, next_cursor = await service.list_(session=session, principal=principal, region=region,
                                            status=status.value if status else None, limit=limit, cursor=cursor)
    return Page(items=[service.read(c) for c in rows], next_cursor=next_cursor)


@router.get("/{claim_id}", summary="A risk compensation claim 风险补偿申请详情",
            response_model=RiskClaimRead, responses=problem_responses(401, 403, 404))
async def get_claim(claim_id: IdPath, session: SessionDep, response: Response,
                    principal: Principal = READERS) -> RiskClaimRead:
    claim = await service.get(session=session, principal=principal, claim_id=claim_id)
    set_etag(response, claim.version)
    return service.read(claim)


async def _act(request: Request, response: Response, session, idempotency, principal, body, act) -> RiskClaimRead:
    async def acted() -> RiskClaimRead:
        claim = await act()
        set_etag(response, claim.version)
        return service.read(claim)
    return await idempotency.once(session, owner=principal.sub, body=body, act=acted, status_code=200)


@router.post("/{claim_id}/review", response_model=RiskClaimRead,
             responses=problem_responses(401, 403, 404, 409, 412, 422), summary="Review a claim 审核 (county_admin)")
async def review_claim(claim_id: IdPath, request: Request, response: Response, session: SessionDep,
                       idempotency: IdempotencyDep, review_in: ReviewIn | None = None,
                       principal: Principal = COUNTY) -> RiskClaimRead:
    review_in = review_in or ReviewIn()

    async def act():
        check_if_match(request, (await service.get(session=session, principal=principal, claim_id=claim_id)).version)
        return await service.review(session=session, principal=principal, claim_id=claim_id, note=review_in.note)
    return await _act(request, response, session, idempotency, principal, {"id": claim_id, **review_in.model_dump()},
                      act)


@router.post("/{claim_id}/approve", response_model=RiskClaimRead,
             responses=problem_responses(401, 403, 404, 409, 412, 422),
             summary="Approve and pay a reviewed claim 审批拨付 (a county_admin other than the reviewer)")
async def approve_claim(claim_id: IdPath, request: Request, response: Response, session: SessionDep,
                        idempotency: IdempotencyDep, principal: Principal = COUNTY) -> RiskClaimRead:
    """Pays ``amount`` (JINGZHUN_RISK_SHARE of the defaulted principal) from a risk_compensation allocation covering
    the borrower's village: the most specific region first, then the oldest year, the first with enough available.
    409 ``no-risk-fund`` when none covers it, ``insufficient-funds`` when none has enough; the reviewer → 403."""
    async def act():
        check_if_match(request, (await service.get(session=session, principal=principal, claim_id=claim_id)).version)
        return await service.approve(session=session, principal=principal, claim_id=claim_id)
    return await _act(request, response, session, idempotency, principal, {"id": claim_id}, act)


@router.post("/{claim_id}/reject", response_model=RiskClaimRead,
             responses=problem_responses(401, 403, 404, 409, 412, 422), summary="Reject a claim 驳回 (county_admin)")
async def reject_claim(claim_id: IdPath, reject_in: RejectIn, request: Request, response: Response,
                       session: SessionDep, idempotency: IdempotencyDep,
                       principal: Principal = COUNTY) -> RiskClaimRead:
    async def act():
        check_if_match(request, (await service.get(session=session, principal=principal, claim_id=claim_id)).version)
        return await service.reject(session=session, principal=principal, claim_id=claim_id, reason=reject_in.reason)
    return await _act(request, response, session, idempotency, principal, {"id": claim_id, **reject_in.model_dump()},
                      act)
