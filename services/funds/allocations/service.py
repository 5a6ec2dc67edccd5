"""Allocations (资金下达) and 调项: earmarked money on the ledger, moved to another purpose only with four eyes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.funds.allocations import repository
from services.funds.allocations.models import Allocation
from services.funds.allocations.schemas import (AdjustmentCreate, AdjustmentRead, AllocationCreate, AllocationRead,
                                                EntryLineRead, EntryRead)
from services.funds.clients import registry
from services.funds.glossary import (ADJUSTMENT_STATUS_LABELS, ENTRY_KIND_LABELS, PURPOSE_LABELS, AccountKind,
                                     AdjustmentStatus, EntryKind)
from services.funds.ledger import service as ledger
from services.funds.sources import service as sources
from shared import audit, regions
from shared.auth import Principal
from shared.http import ServiceClient
from shared.money import from_fen, to_fen
from shared.pagination import decode_cursor, page
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable


def _visible(principal: Principal, region_code: str) -> bool:
    """A region the caller names: inside its subtree, or above it (a township sees the county's allocations)."""
    return principal.covers(region_code) or regions.covers(region_code, principal.region)


def _field_error(field: str, msg: str) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def to_read(a: Allocation, balances: Mapping[tuple[int, str], Mapping[str, Any]]) -> AllocationRead:
    fen = {k: balances[(a.id, k.value)]["balance"] for k in ledger.ALLOCATION_KINDS}
    return AllocationRead(
        id=a.id, source_id=a.source_id, region_code=a.region_code, purpose=a.purpose,
        purpose_label=PURPOSE_LABELS[a.purpose], year=a.year, doc_no=a.doc_no, granted=from_fen(a.granted),
        amount=from_fen(sum(fen.values())), committed=from_fen(fen[AccountKind.committed]),
        spent=from_fen(fen[AccountKind.spent]), available=from_fen(fen[AccountKind.available]),
        adjustment_id=a.adjustment_id, created_by=a.created_by, created_at=a.created_at, version=a.version)


async def read(session: AsyncSession, allocation: Allocation) -> AllocationRead:
    return to_read(allocation, await ledger.accounts(session, [allocation.id]))


async def _new_allocation(session: AsyncSession, *, actor: str, source_id: int, region_code: str, purpose: str,
                          year: int, doc_no: str, fen: int, adjustment_id: int | None = None) -> Allocation:
    allocation = Allocation(source_id=source_id, region_code=region_code, purpose=purpose, year=year,
                            doc_no=doc_no, granted=fen, adjustment_id=adjustment_id, created_by=actor)
    session.add(allocation)
    await session.flush()
    await ledger.open_accounts(session, allocation_id=allocation.id, source_id=source_id, purpose=purpose,
                               region_code=region_code)
    return allocation


async def create(*, session: AsyncSession, principal: Principal, services: ServiceClient,
                 allocation_in: AllocationCreate) -> Allocation:
    source = await sources.get(session=session, principal=principal, source_id=allocation_in.source_id)
    region_code = allocation_in.region_code
    if not principal.covers(region_code):
        raise _field_error("region_code", "The region is outside your own region")
    if not regions.covers(source.region_code, region_code):
        raise _field_error("region_code", f"The fund source belongs to region {source.region_code}; "
                                          "its money can only be allocated inside it")
    if await registry.region(services, region_code) is None:
        raise _field_error("region_code", "No such region in the registry")
    fen = to_fen(allocation_in.amount)
    allocation = await _new_allocation(session, actor=principal.sub, source_id=source.id, region_code=region_code,
                                       purpose=allocation_in.purpose.value, year=allocation_in.year,
                                       doc_no=allocation_in.doc_no, fen=fen)
    accounts = await ledger.accounts(session, [allocation.id])
    entry = await ledger.post(session, kind=EntryKind.allocate, ref=f"allocation:{allocation.id}",
                              actor=principal.sub, memo=allocation_in.doc_no,
                              lines=[(await ledger.source_account(session, source.id), -fen),
                                     (accounts[(allocation.id, "available")]["id"], fen)])
    await audit.record(session, actor=principal.sub, action="allocation.create", entity="allocation",
                       entity_id=allocation.id, diff={**allocation_in.model_dump(mode="json"), "entry_id": entry})
    return allocation


async def get(*, session: AsyncSession, principal: Principal, allocation_id: int, lock: bool = False,
              to_change: bool = False, not_found: str = "No such allocation") -> Allocation:
    """An allocation the caller may read (``to_change``: may change); any other is not found."""
    scope = repository.writable(principal) if to_change else repository.readable(principal)
    allocation = await repository.one(session, scope, allocation_id, lock=lock)
    if allocation is None:
        raise NotFound(not_found)
    return allocation


async def list_(*, session: AsyncSession, principal: Principal, region: str | None, purpose: str | None,
                year: int | None, limit: int, cursor: str | None) -> tuple[list[AllocationRead], str | None]:
    scope = region or principal.region      # "" for a service asking for everything
    if scope and not _visible(principal, scope):
        raise NotFound("No such region")
    key = decode_cursor(cursor, id=int)
    rows = await repository.page_of(       # a region above the caller's: only what covers the caller
        session, principal, region=scope or None, below=bool(scope) and principal.covers(scope), purpose=purpose,
        year=year, after=key["id"] if key else None, limit=limit + 1)
    items, next_cursor = page(rows, limit, lambda a: {"id": a.id})
    balances = await ledger.accounts(session, [a.id for a in items])
    return [to_read(a, balances) for a in items], next_cursor


async def entries(*, session: AsyncSession, principal: Principal, allocation_id: int, limit: int,
                  cursor: str | None) -> tuple[list[EntryRead], str | None]:
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    await get(session=session, principal=principal, allocation_id=allocation_id)
    rows = await ledger.entries_of(session, allocation_id=allocation_id, limit=limit + 1, after=after)
    rows, next_cursor = page(rows, limit, lambda r: {"id": r["entry_id"]})
    return [EntryRead(entry_id=r["entry_id"], kind=r["kind"], kind_label=ENTRY_KIND_LABELS[r["kind"]], ref=r["ref"],
                      memo=r["memo"], reverses_id=r["reverses_id"], actor=r["actor"], at=r["at"],
                      lines=[EntryLineRead(line_id=x["line_id"], account=x["account"],
                                           account_label=ledger.ACCOUNT_LABELS[x["account"]],
                                           allocation_id=x["allocation_id"], source_id=x["source_id"],
                                           amount=f"{from_fen(x['amount']):f}") for x in r["lines"]])
            for r in rows], next_cursor


async def reverse_allocation(*, session: AsyncSession, principal: Principal, allocation_id: int, reason: str
                             ) -> Allocation:
    """冲正 of a mistaken allocation: its money goes back to the source; refused (409) once any of it is committed
    or spent, or if it was reversed already."""
    allocation = await get(session=session, principal=principal, allocation_id=allocation_id, lock=True,
                           to_change=True)
    if allocation.adjustment_id is not None:
        raise Conflict("This allocation came from a 调项; move its money with another adjustment",
                       slug="not-reversible")
    entry_id = await ledger.entry_by_ref(session, kind=EntryKind.allocate, ref=f"allocation:{allocation.id}")
    reversal = await ledger.reverse(session, entry_id=entry_id, actor=principal.sub, memo=reason)
    await audit.record(session, actor=principal.sub, action="allocation.reverse", entity="allocation",
                       entity_id=allocation.id, diff={"entry_id": reversal, "reverses": entry_id, "reason": reason})
    return allocation


# 调项

def adjustment_read(adj: Mapping[str, Any], from_purpose: str) -> AdjustmentRead:
    return AdjustmentRead(
        id=adj["id"], allocation_id=adj["allocation_id"], from_purpose=from_purpose, to_purpose=adj["to_purpose"],
        to_purpose_label=PURPOSE_LABELS[adj["to_purpose"]], amount=from_fen(adj["amount"]), reason=adj["reason"],
        status=adj["status"], status_label=ADJUSTMENT_STATUS_LABELS[adj["status"]], proposed_by=adj["proposed_by"],
        decided_by=adj["decided_by"], decided_at=adj["decided_at"], new_allocation_id=adj["new_allocation_id"],
        entry_id=adj["entry_id"], version=adj["version"])


async def propose(*, session: AsyncSession, principal: Principal, allocation_id: int,
                  adjustment_in: AdjustmentCreate) -> AdjustmentRead:
    allocation = await get(session=session, principal=principal, allocation_id=allocation_id, to_change=True)
    if adjustment_in.to_purpose.value == allocation.purpose:
        raise _field_error("to_purpose", "The allocation already has this purpose")
    fen = to_fen(adjustment_in.amount)
    available = (await ledger.accounts(session, [allocation.id]))[(allocation.id, "available")]["balance"]
    if fen > available:
        raise ledger.InsufficientFunds(f"The allocation has {from_fen(available)} available")
    row = await repository.add_adjustment(session, allocation_id=allocation.id,
                                          to_purpose=adjustment_in.to_purpose.value, amount=fen,
                                          reason=adjustment_in.reason, proposed_by=principal.sub)
    await audit.record(session, actor=principal.sub, action="adjustment.propose", entity="adjustment",
                       entity_id=row["id"], diff=adjustment_in.model_dump(mode="json") | {"allocation_id": allocation.id})
    return adjustment_read(row, allocation.purpose)


async def _locked_adjustment(session: AsyncSession, principal: Principal, adjustment_id: int
                             ) -> tuple[Mapping[str, Any], Allocation]:
    adj = await repository.adjustment(session, adjustment_id, lock=True)
    if adj is None:
        raise NotFound("No such adjustment")
    allocation = await get(session=session, principal=principal, allocation_id=adj["allocation_id"],
                           to_change=True, not_found="No such adjustment")
    if adj["status"] != AdjustmentStatus.proposed.value:
        raise Conflict(f"The adjustment is already {adj['status']}", slug="adjustment-decided")
    return adj, allocation


async def _decide(session: AsyncSession, principal: Principal, adj: Mapping[str, Any], **values: Any
                  ) -> Mapping[str, Any]:
    return await repository.decide(session, adj["id"], by=principal.sub, **values)


async def approve(*, session: AsyncSession, principal: Principal, adjustment_id: int) -> AdjustmentRead:
    """The second county_admin's approval: ``amount`` leaves the allocation for a new one with the new purpose
    (same source, region and year), in one balanced entry."""
    adj, allocation = await _locked_adjustment(session, principal, adjustment_id)
    if adj["proposed_by"] == principal.sub:
        raise Forbidden("The proposer of an adjustment cannot approve it (four eyes)")
    new = await _new_allocation(session, actor=principal.sub, source_id=allocation.source_id,
                                region_code=allocation.region_code, purpose=adj["to_purpose"], year=allocation.year,
                                doc_no=allocation.doc_no, fen=adj["amount"], adjustment_id=adj["id"])
    accounts = await ledger.accounts(session, [allocation.id, new.id])
    entry = await ledger.post(session, kind=EntryKind.adjust, ref=f"adjustment:{adj['id']}", actor=principal.sub,
                              memo=adj["reason"], lines=[(accounts[(allocation.id, "available")]["id"], -adj["amount"]),
                                                         (accounts[(new.id, "available")]["id"], adj["amount"])])
    row = await _decide(session, principal, adj, status=AdjustmentStatus.approved.value, new_allocation_id=new.id,
                        entry_id=entry)
    await audit.record(session, actor=principal.sub, action="adjustment.approve", entity="adjustment",
                       entity_id=adj["id"], diff={"new_allocation_id": new.id, "entry_id": entry})
    return adjustment_read(row, allocation.purpose)


async def reject(*, session: AsyncSession, principal: Principal, adjustment_id: int, reason: str) -> AdjustmentRead:
    adj, allocation = await _locked_adjustment(session, principal, adjustment_id)
    row = await _decide(session, principal, adj, status=AdjustmentStatus.rejected.value)
    await audit.record(session, actor=principal.sub, action="adjustment.reject", entity="adjustment",
                       entity_id=adj["id"], diff={"reason": reason})
    return adjustment_read(row, allocation.purpose)


async def get_adjustment(*, session: AsyncSession, principal: Principal, adjustment_id: int) -> AdjustmentRead:
    adj = await repository.adjustment(session, adjustment_id)
    if adj is None:
        raise NotFound("No such adjustment")
    allocation = await get(session=session, principal=principal, allocation_id=adj["allocation_id"],
                           not_found="No such adjustment")
    return adjustment_read(adj, allocation.purpose)


async def list_adjustments(*, session: AsyncSession, principal: Principal, status: str | None, limit: int,
                           cursor: str | None) -> tuple[list[AdjustmentRead], str | None]:
    key = decode_cursor(cursor, id=int)
    rows = await repository.adjustments_page(session, principal, status=status, after=key["id"] if key else None,
                                             limit=limit + 1)
    rows, next_cursor = page(rows, limit, lambda r: {"id": r["id"]})
    return [adjustment_read(r, r["from_purpose"]) for r in rows], next_cursor
