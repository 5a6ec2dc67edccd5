"""Every query on 风险补偿 claims. A caller reads the claims of its subtree (:func:`readable`): any other is simply
not found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.risk_claims.models import RiskClaim
from shared import regions, scoping
from shared.auth import Principal

claim_t = RiskClaim.__table__


def readable(principal: Principal) -> Select:
    return select(RiskClaim).where(scoping.subtree(RiskClaim.region_code, principal))


async def one(session: AsyncSession, principal: Principal, claim_id: int, *, lock: bool = False) -> RiskClaim | None:
    q = readable(principal).where(RiskClaim.id == claim_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).scalars().first()


async def page_of(session: AsyncSession, principal: Principal, *, region: str, status: str | None,
                  after: int | None, limit: int) -> list[RiskClaim]:
    """The caller's claims in ``region``'s subtree, in id order."""
    q = readable(principal).where(RiskClaim.region_code.startswith(regions.prefix(region)))
    if status is not None:
        q = q.where(RiskClaim.status == status)
    if after is not None:
        q = q.where(RiskClaim.id > after)
    return list((await session.execute(q.order_by(RiskClaim.id).limit(limit))).scalars().all())


async def add_once(session: AsyncSession, values: Mapping[str, Any]) -> int | None:
    """The new claim's id, or None when the loan has one already."""
    return (await session.execute(insert(claim_t).values(**values).on_conflict_do_nothing(
        index_elements=["loan_no"]).returning(claim_t.c.id))).scalar()


async def restate(session: AsyncSession, *, loan_no: str, principal: int, defaulted_on: Any) -> int | None:
    """An unpaid claim given another defaulted principal or date (back to open); its id, or None if unchanged."""
    return (await session.execute(text(
        "UPDATE risk_claim SET principal = :principal, amount = round(:principal * share)::bigint,"
        " defaulted_on = :on, status = 'open', reviewed_by = NULL, reviewed_at = NULL, version = version + 1"
        " WHERE loan_no = :loan_no AND status IN ('open', 'reviewed')"
        " AND (principal <> :principal OR defaulted_on <> :on) RETURNING id"),
        {"principal": principal, "on": defaulted_on, "loan_no": loan_no})).scalar()


async def risk_funds(session: AsyncSession, region_codes: Sequence[str]) -> Sequence[Mapping[str, Any]]:
    """The risk_compensation allocations of these regions with their available and spent accounts."""
    return (await session.execute(text(
        "SELECT a.id, a.region_code, a.year, av.id AS available, sp.id AS spent, av.balance FROM allocation a"
        " JOIN ledger_account av ON av.allocation_id = a.id AND av.kind = 'available'"
        " JOIN ledger_account sp ON sp.allocation_id = a.id AND sp.kind = 'spent'"
        " WHERE a.purpose = 'risk_compensation' AND a.region_code = ANY(:codes)"),
        {"codes": list(region_codes)})).mappings().all()
