"""风险补偿 (CONTRACT §7): a ``defaulted`` loan event opens the loan's claim (once); a county_admin reviews it, a
second county_admin approves it, which pays ``share`` (JINGZHUN_RISK_SHARE) of the defaulted principal from a
risk_compensation allocation covering the borrower's village through one balanced ledger entry; either may reject
it. ``open → reviewed → paid``, or ``rejected`` from open or reviewed.

Which allocation pays: among the risk_compensation allocations whose region contains the borrower's village, the
most specific region first (village, township, county…), then the oldest year, then the lowest id, the first
whose available money covers the whole amount; none → 409 ``no-risk-fund``, none with enough → 409
``insufficient-funds``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import RISK_CLAIM_STATUS_LABELS, EntryKind, RiskClaimStatus
from services.funds.ledger import service as ledger
from services.funds.loans.models import Loan
from services.funds.loans.state import LoanState
from services.funds.risk_claims import repository
from services.funds.risk_claims.models import RiskClaim
from services.funds.risk_claims.schemas import RiskClaimRead
from shared import audit, regions
from shared.auth import Principal
from shared.money import from_fen
from shared.pagination import decode_cursor, page
from shared.problems import Conflict, Forbidden, NotFound

S = RiskClaimStatus
NOT_FOUND = "No such risk claim"


def share_of(principal: int, share: Decimal) -> int:
    return int((Decimal(principal) * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def read(c: RiskClaim) -> RiskClaimRead:
    return RiskClaimRead(
        id=c.id, loan_no=c.loan_no, bank_code=c.bank_code, household_id=c.household_id, region_code=c.region_code,
        defaulted_on=c.defaulted_on, principal=from_fen(c.principal), share=c.share, amount=from_fen(c.amount),
        status=c.status, status_label=RISK_CLAIM_STATUS_LABELS[c.status], reviewed_by=c.reviewed_by,
        reviewed_at=c.reviewed_at, decided_by=c.decided_by, decided_at=c.decided_at, note=c.note,
        allocation_id=c.allocation_id, entry_id=c.entry_id, created_at=c.created_at, version=c.version)


async def open_for(*, session: AsyncSession, loan: Loan, state: LoanState, share: Decimal, defaulted_on: date
                   ) -> None:
    """The defaulted loan's claim, once per loan. A late event that changes the defaulted principal changes an
    unpaid claim (a reviewed one goes back to open: its review was of another amount)."""
    values = {"loan_no": loan.loan_no, "bank_code": loan.bank_code, "household_id": loan.household_id,
              "region_code": loan.region_code, "defaulted_on": defaulted_on, "principal": state.compensated,
              "share": share, "amount": share_of(state.compensated, share)}
    made = await repository.add_once(session, values)
    if made is not None:
        await audit.record(session, actor="svc:funds", action="risk_claim.opened", entity="risk_claim",
                           entity_id=made, diff={**values, "defaulted_on": defaulted_on.isoformat(),
                                                 "share": str(share)})
        return
    changed = await repository.restate(session, loan_no=loan.loan_no, principal=state.compensated,
                                       defaulted_on=defaulted_on)
    if changed is not None:
        await audit.record(session, actor="svc:funds", action="risk_claim.restated", entity="risk_claim",
                           entity_id=changed, diff={"principal": state.compensated,
                                                    "defaulted_on": defaulted_on.isoformat()})


async def get(*, session: AsyncSession, principal: Principal, claim_id: int, lock: bool = False) -> RiskClaim:
    claim = await repository.one(session, principal, claim_id, lock=lock)
    if claim is None:
        raise NotFound(NOT_FOUND)
    return claim


async def list_(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[RiskClaim], str | None]:
    scope = region or principal.region
    if not principal.covers(scope):
        raise NotFound("No such region")
    key = decode_cursor(cursor, id=int)
    rows = await repository.page_of(session, principal, region=scope, status=status,
                                    after=key["id"] if key else None, limit=limit + 1)
    return page(rows, limit, lambda c: {"id": c.id})


def _bump(claim: RiskClaim, status: S, who: str, note: str | None) -> None:
    claim.status, claim.version = status.value, claim.version + 1
    claim.note = note if note is not None else claim.note
    now = datetime.now(UTC)
    if status is S.reviewed:
        claim.reviewed_by, claim.reviewed_at = who, now
    else:
        claim.decided_by, claim.decided_at = who, now


def _must_be(claim: RiskClaim, *statuses: S, action: str) -> None:
    if claim.status not in statuses:
        raise Conflict(f"cannot {action} a claim that is {claim.status} ({RISK_CLAIM_STATUS_LABELS[claim.status]})",
                       slug="illegal-transition", status_now=claim.status)


async def review(*, session: AsyncSession, principal: Principal, claim_id: int, note: str | None) -> RiskClaim:
    claim = await get(session=session, principal=principal, claim_id=claim_id, lock=True)
    _must_be(claim, S.open, action="review")
    _bump(claim, S.reviewed, principal.sub, note)
    await session.flush()
    await audit.record(session, actor=principal.sub, action="risk_claim.reviewed", entity="risk_claim",
                       entity_id=claim.id, diff={"note": note, "amount": f"{from_fen(claim.amount):f}"})
    return claim


async def reject(*, session: AsyncSession, principal: Principal, claim_id: int, reason: str) -> RiskClaim:
    claim = await get(session=session, principal=principal, claim_id=claim_id, lock=True)
    _must_be(claim, S.open, S.reviewed, action="reject")
    _bump(claim, S.rejected, principal.sub, reason)
    await session.flush()
    await audit.record(session, actor=principal.sub, action="risk_claim.rejected", entity="risk_claim",
                       entity_id=claim.id, diff={"reason": reason})
    return claim


async def approve(*, session: AsyncSession, principal: Principal, claim_id: int) -> RiskClaim:
    claim = await get(session=session, principal=principal, claim_id=claim_id, lock=True)
    _must_be(claim, S.reviewed, action="approve")
    if claim.reviewed_by == principal.sub:
        raise Forbidden("The county_admin who reviewed a claim cannot approve it (四眼原则)")
    if claim.amount <= 0:
        raise Conflict("the claim has nothing to pay", slug="nothing-to-pay")
    funds = await repository.risk_funds(session, [claim.region_code, *regions.ancestors(claim.region_code)])
    if not funds:
        raise Conflict(f"no risk_compensation (风险补偿金) allocation covers village {claim.region_code}",
                       slug="no-risk-fund", title="No risk compensation fund")
    funds = sorted(funds, key=lambda f: (-regions.depth(f["region_code"]), f["year"], f["id"]))
    chosen = next((f for f in funds if f["balance"] >= claim.amount), None)
    if chosen is None:
        raise ledger.InsufficientFunds(
            f"no risk_compensation allocation covering village {claim.region_code} has "
            f"{from_fen(claim.amount):f} available (most: {from_fen(max(f['balance'] for f in funds)):f})")
    claim.entry_id = await ledger.post(session, kind=EntryKind.spend, ref=f"risk_claim:{claim.id}",
                                       actor=principal.sub, memo=f"风险补偿 {claim.loan_no}",
                                       lines=[(chosen["available"], -claim.amount), (chosen["spent"], claim.amount)])
    claim.allocation_id = chosen["id"]
    _bump(claim, S.paid, principal.sub, None)
    await session.flush()
    await audit.record(session, actor=principal.sub, action="risk_claim.paid", entity="risk_claim",
                       entity_id=claim.id, diff={"allocation_id": chosen["id"], "entry_id": claim.entry_id,
                                                 "amount": f"{from_fen(claim.amount):f}"})
    return claim
