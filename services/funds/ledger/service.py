"""Posting to the ledger. The rules live in the database (see models.py); this module writes entries and turns
the database's refusals into problems.

Every write goes through :func:`post_entries` (``post`` is one entry of it): one call of the database's
``ledger_post`` that locks every account the entries touch in one global order (by account id) before writing a
line. Two writers touching the same accounts therefore queue on the first account they share and never deadlock,
whatever order their business logic names the accounts in (a payment from allocations X then Y beside one from Y
then X). A request that moves money of several allocations posts its entries in one call, never one after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import EntryKind
from services.funds.ledger import repository
from services.funds.ledger.repository import (  # noqa: F401 (the reads callers make as ledger.accounts(…))
    ALLOCATION_KINDS, accounts, entries_of, entry_by_ref, open_accounts, source_account)
from shared.problems import Conflict

ACCOUNT_LABELS = {"source": "资金来源", "available": "可用", "committed": "已占用", "spent": "已支出"}


class InsufficientFunds(Conflict):
    slug = "insufficient-funds"
    title = "Not enough money available"
    title_zh = "可用资金不足"


class EarmarkViolation(Conflict):
    """专款专用: money asked to move to another purpose or outside its allocation's region.

    The request's transaction rolls back, yet the attempt is kept: ``attempt`` (who, which allocation, its purpose
    and region, how much, on what) becomes ``audit_record``, which the funds session dependency appends to the audit
    chain in a transaction of its own (services/funds/deps.py)."""

    slug = "earmark-violation"
    title = "The money is earmarked for another purpose or region"
    title_zh = "专款专用：这笔钱只能用于指定用途和地区"

    def __init__(self, detail: str | None = None, *, attempt: SpendAttempt | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.audit_record = attempt.record(self.detail or self.title) if attempt else {}


@dataclass(frozen=True)
class SpendAttempt:
    """Who tried to move what money of which allocation onto what (an ``EarmarkViolation``'s audit record)."""

    actor: str
    allocation_id: int
    purpose: str
    region_code: str
    amount: str
    target: str
    target_purpose: str | None = None
    target_region: str | None = None

    def record(self, reason: str) -> dict[str, Any]:
        return {"actor": self.actor, "action": "ledger.refused", "entity": "allocation",
                "entity_id": self.allocation_id,
                "diff": {"problem": EarmarkViolation.slug, "reason": reason, "purpose": self.purpose,
                         "region_code": self.region_code, "amount": self.amount, "target": self.target,
                         "target_purpose": self.target_purpose, "target_region": self.target_region}}


@dataclass(frozen=True)
class Entry:
    """One balanced entry to post: ``lines`` are (account id, fen), summing to zero, none zero."""

    kind: EntryKind | str
    ref: str
    actor: str
    lines: Sequence[tuple[int, int]]
    memo: str = ""
    reverses_id: int | None = None


def _constraint(exc: sa_exc.DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    for e in (orig, getattr(orig, "__cause__", None)):
        if name := getattr(e, "constraint_name", None):
            return name
    return None


async def post_entries(session: AsyncSession, entries: Sequence[Entry]) -> list[int]:
    """Post ``entries`` at once, their accounts locked in id order first; returns their ids in order. An account
    that would go below zero refuses them all (409 insufficient-funds); so does a second reversal of an entry."""
    if not entries:
        return []
    for e in entries:
        if sum(a for _, a in e.lines) != 0 or any(a == 0 for _, a in e.lines) or not e.lines:
            raise ValueError(f"unbalanced ledger entry: {e.lines}")
    lines = [(n, acc, amount) for n, e in enumerate(entries, 1) for acc, amount in e.lines]
    params = {"kinds": [str(e.kind) for e in entries],
              "refs": [e.ref for e in entries], "actors": [e.actor for e in entries],
              "memos": [e.memo for e in entries], "reverses": [e.reverses_id for e in entries],
              "line_entry": [n for n, _, _ in lines], "line_account": [a for _, a, _ in lines],
              "line_amount": [m for _, _, m in lines]}
    try:
        return await repository.post(session, params)
    except sa_exc.IntegrityError as exc:
        constraint = _constraint(exc)
        if constraint == "ck_ledger_account_balance":
            raise InsufficientFunds("The allocation does not have that much available") from None
        if constraint == "uq_ledger_entry_reverses_id":       # a concurrent reversal of the same entry
            raise Conflict("The entry was already reversed", slug="already-reversed") from None
        if constraint == "ledger_entry_earmark":             # the database's own 专款专用 check
            refused = EarmarkViolation("An entry would move money across purposes, regions or sources")
            refused.audit_record = {"actor": entries[0].actor, "action": "ledger.refused", "entity": "ledger_entry",
                                    "entity_id": entries[0].ref, "diff": {"entries": [
                                        {"kind": str(e.kind), "ref": e.ref, "lines": [list(x) for x in e.lines]}
                                        for e in entries]}}
            raise refused from None
        raise


async def post(session: AsyncSession, *, kind: EntryKind, ref: str, actor: str, lines: list[tuple[int, int]],
               memo: str = "", reverses_id: int | None = None) -> int:
    """One balanced entry (see :func:`post_entries`). Returns the entry id."""
    return (await post_entries(session, [Entry(kind=kind, ref=ref, actor=actor, lines=lines, memo=memo,
                                               reverses_id=reverses_id)]))[0]


async def reverse(session: AsyncSession, *, entry_id: int, actor: str, memo: str) -> int:
    """A correction: the negation of ``entry_id`` (an entry is reversed at most once: 409 the second time)."""
    lines = await repository.entry_lines(session, entry_id)
    taken = await repository.reversal_of(session, entry_id)
    if taken is not None:
        raise Conflict(f"Entry {entry_id} was already reversed by entry {taken}", slug="already-reversed")
    return await post(session, kind=EntryKind.reverse, ref=f"entry:{entry_id}", actor=actor, memo=memo,
                      lines=[(acc, -amount) for acc, amount in lines], reverses_id=entry_id)
