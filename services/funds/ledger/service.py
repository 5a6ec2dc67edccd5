"""Posting to the ledger. The rules live in the database (see models.py); this module writes entries and turns
the database's refusals into problems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import AccountKind, EntryKind
from services.funds.ledger.models import LedgerAccount, LedgerEntry, LedgerLine
from shared.problems import Conflict

account_t, entry_t, line_t = LedgerAccount.__table__, LedgerEntry.__table__, LedgerLine.__table__
ALLOCATION_KINDS = (AccountKind.available, AccountKind.committed, AccountKind.spent)


class InsufficientFunds(Conflict):
    slug = "insufficient-funds"
    title = "Not enough money available"


class EarmarkViolation(Conflict):
    """专款专用: money asked to move to another purpose or outside its allocation's region."""

    slug = "earmark-violation"
    title = "The money is earmarked for another purpose or region"


def _constraint(exc: sa_exc.DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    for e in (orig, getattr(orig, "__cause__", None)):
        if name := getattr(e, "constraint_name", None):
            return name
    return None


async def open_accounts(session: AsyncSession, *, allocation_id: int, source_id: int, purpose: str,
                        region_code: str) -> None:
    """The allocation's three accounts, and its source's account if this is the source's first allocation."""
    await session.execute(text(
        "INSERT INTO ledger_account (kind, source_id) VALUES ('source', :s) "
        "ON CONFLICT (source_id) WHERE kind = 'source' DO NOTHING"), {"s": source_id})
    await session.execute(insert(account_t), [
        {"kind": k.value, "source_id": source_id, "allocation_id": allocation_id, "purpose": purpose,
         "region_code": region_code, "balance": 0} for k in ALLOCATION_KINDS])


async def accounts(session: AsyncSession, allocation_ids: Iterable[int]) -> dict[tuple[int, str], Mapping[str, Any]]:
    """(allocation id, kind) → {id, balance} for the allocations' accounts."""
    rows = (await session.execute(select(account_t.c.id, account_t.c.allocation_id, account_t.c.kind,
                                         account_t.c.balance).where(
        account_t.c.allocation_id.in_(list(allocation_ids))))).mappings().all()
    return {(r["allocation_id"], r["kind"]): r for r in rows}


async def source_account(session: AsyncSession, source_id: int) -> int:
    return (await session.execute(select(account_t.c.id).where(
        account_t.c.source_id == source_id, account_t.c.kind == AccountKind.source.value))).scalar_one()


async def post(session: AsyncSession, *, kind: EntryKind, ref: str, actor: str, lines: list[tuple[int, int]],
               memo: str = "", reverses_id: int | None = None) -> int:
    """One balanced entry: ``lines`` are (account id, fen), summing to zero. Returns the entry id.

    Lines are written in account order, so concurrent entries lock the same accounts in the same order (no
    deadlock); an account that would go below zero refuses the whole entry (409 insufficient-funds)."""
    if sum(a for _, a in lines) != 0 or any(a == 0 for _, a in lines):
        raise ValueError(f"unbalanced ledger entry: {lines}")
    entry_id = (await session.execute(insert(entry_t).values(
        kind=kind.value, ref=ref, actor=actor, memo=memo, reverses_id=reverses_id).returning(entry_t.c.id)
    )).scalar_one()
    try:
        await session.execute(insert(line_t), [{"entry_id": entry_id, "account_id": acc, "amount": amount}
                                               for acc, amount in sorted(lines)])
    except sa_exc.IntegrityError as exc:
        if _constraint(exc) == "ck_ledger_account_balance":
            raise InsufficientFunds("The allocation does not have that much available") from None
        raise
    return entry_id


async def reverse(session: AsyncSession, *, entry_id: int, actor: str, memo: str) -> int:
    """A correction: the negation of ``entry_id`` (an entry is reversed at most once: 409 the second time)."""
    lines = (await session.execute(select(line_t.c.account_id, line_t.c.amount).where(
        line_t.c.entry_id == entry_id))).all()
    taken = (await session.execute(select(entry_t.c.id).where(entry_t.c.reverses_id == entry_id))).first()
    if taken is not None:
        raise Conflict(f"Entry {entry_id} was already reversed by entry {taken.id}", slug="already-reversed")
    try:
        return await post(session, kind=EntryKind.reverse, ref=f"entry:{entry_id}", actor=actor, memo=memo,
                          lines=[(acc, -amount) for acc, amount in lines], reverses_id=entry_id)
    except sa_exc.IntegrityError as exc:     # a concurrent reversal of the same entry
        if _constraint(exc) == "uq_ledger_entry_reverses_id":
            raise Conflict(f"Entry {entry_id} was already reversed", slug="already-reversed") from None
        raise


async def lines_of(session: AsyncSession, *, allocation_id: int, limit: int, after: int
                   ) -> list[Mapping[str, Any]]:
    """The allocation's ledger lines in order, with their entries."""
    return (await session.execute(text(
        "SELECT l.id, l.entry_id, l.amount, a.kind AS account, e.kind, e.ref, e.memo, e.reverses_id, e.actor, e.at "
        "FROM ledger_line l JOIN ledger_account a ON a.id = l.account_id JOIN ledger_entry e ON e.id = l.entry_id "
        "WHERE a.allocation_id = :a AND l.id > :after ORDER BY l.id LIMIT :n"),
        {"a": allocation_id, "after": after, "n": limit})).mappings().all()
