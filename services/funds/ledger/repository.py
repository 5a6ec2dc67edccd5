"""Every query on the ledger: accounts opened and read, entries posted by the database's ``ledger_post`` (the one
way money moves: balanced entries, accounts locked in id order, the invariants checked in the database), an
allocation's entries read back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import AccountKind, EntryKind
from services.funds.ledger.models import LedgerAccount, LedgerEntry, LedgerLine

account_t, entry_t, line_t = LedgerAccount.__table__, LedgerEntry.__table__, LedgerLine.__table__
ALLOCATION_KINDS = (AccountKind.available, AccountKind.committed, AccountKind.spent)


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


POST = text("SELECT ledger_post(CAST(:kinds AS text[]), CAST(:refs AS text[]), CAST(:actors AS text[]), "
            "CAST(:memos AS text[]), CAST(:reverses AS bigint[]), CAST(:line_entry AS int[]), "
            "CAST(:line_account AS bigint[]), CAST(:line_amount AS bigint[]))")


async def post(session: AsyncSession, params: Mapping[str, Sequence[Any]]) -> list[int]:
    """One call of ``ledger_post`` (arrays as :data:`POST` names them); the new entries' ids in order."""
    return list((await session.execute(POST, params)).scalar_one())


async def entry_lines(session: AsyncSession, entry_id: int) -> list[tuple[int, int]]:
    """(account id, fen) of an entry's lines."""
    return [(r.account_id, r.amount) for r in (await session.execute(select(line_t.c.account_id, line_t.c.amount)
                                                                     .where(line_t.c.entry_id == entry_id))).all()]


async def reversal_of(session: AsyncSession, entry_id: int) -> int | None:
    return (await session.execute(select(entry_t.c.id).where(entry_t.c.reverses_id == entry_id))).scalar()


async def entry_by_ref(session: AsyncSession, *, kind: EntryKind, ref: str) -> int:
    return (await session.execute(select(entry_t.c.id).where(entry_t.c.ref == ref, entry_t.c.kind == kind.value)
                                  )).scalar_one()


ENTRIES_OF = text("""
WITH page AS (
  SELECT l.entry_id FROM ledger_line l
  WHERE l.account_id IN (SELECT id FROM ledger_account WHERE allocation_id = :a) AND l.entry_id > :after
  GROUP BY l.entry_id ORDER BY l.entry_id LIMIT :n)
SELECT e.id AS entry_id, e.kind, e.ref, e.memo, e.reverses_id, e.actor, e.at, l.id AS line_id, l.amount,
       a.kind AS account, a.allocation_id, a.source_id, a.purpose, a.region_code
FROM page JOIN ledger_entry e ON e.id = page.entry_id JOIN ledger_line l ON l.entry_id = e.id
JOIN ledger_account a ON a.id = l.account_id
ORDER BY e.id, l.id""")


async def entries_of(session: AsyncSession, *, allocation_id: int, limit: int, after: int
                     ) -> list[dict[str, Any]]:
    """The entries that moved the allocation, in order, each with all its lines (both sides)."""
    out: dict[int, dict[str, Any]] = {}
    for r in (await session.execute(ENTRIES_OF, {"a": allocation_id, "after": after, "n": limit})).mappings():
        entry = out.setdefault(r["entry_id"], {k: r[k] for k in ("entry_id", "kind", "ref", "memo", "reverses_id",
                                                                  "actor", "at")} | {"lines": []})
        entry["lines"].append({k: r[k] for k in ("line_id", "amount", "account", "allocation_id", "source_id",
                                                 "purpose", "region_code")})
    return list(out.values())
