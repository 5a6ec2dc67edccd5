"""The double-entry ledger. Amounts are integer fen.

The database holds the rules (migration ``ledger``), so no code path can break them:
- every entry's lines sum to zero (a deferred constraint trigger checks each entry at commit);
- an account's ``balance`` is kept by a trigger on each line, and only a ``source`` account may go below zero
  (``ck_ledger_account_balance``): two concurrent commitments of the last yuan cannot both pass, the second
  waits for the first's row lock and then fails the check;
- the lines of one entry touch one purpose in one region (专款专用), except an approved 调项 (``adjust``),
  which moves money between allocations of the same source, region and year;
- a refund (退回: spent → available) returns one paid line a bank reversed, at most once per line
  (``uq_ledger_entry_refund`` on its ref, which names the line);
- entries and lines are never updated or deleted: a correction is a reversing entry; a balance changes only
  through a line, and an account never changes owner, kind, purpose or region.
"""

from datetime import datetime

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, String,
                        Text, func, text)
from sqlmodel import Field

from services.funds.base import Base


class LedgerAccount(Base, table=True):
    __tablename__ = "ledger_account"
    __table_args__ = (
        CheckConstraint("kind IN ('source', 'available', 'committed', 'spent')", name="kind"),
        CheckConstraint("kind = 'source' OR balance >= 0", name="balance"),
        CheckConstraint("(kind = 'source') = (allocation_id IS NULL)", name="owner"),
        Index("uq_ledger_account_allocation", "allocation_id", "kind", unique=True,
              postgresql_where=text("allocation_id IS NOT NULL")),
        Index("uq_ledger_account_source", "source_id", unique=True, postgresql_where=text("kind = 'source'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    source_id: int = Field(sa_column=Column(BigInteger, ForeignKey("fund_source.id"), nullable=False))
    allocation_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("allocation.id")))
    purpose: str | None = Field(default=None, sa_column=Column(String(32)))
    region_code: str | None = Field(default=None, sa_column=Column(CHAR(12)))
    balance: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))


class LedgerEntry(Base, table=True):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("kind IN ('allocate', 'adjust', 'commit', 'release', 'spend', 'reverse', 'refund')", name="kind"),
        CheckConstraint("(kind = 'reverse') = (reverses_id IS NOT NULL)", name="reverses"),
        # a refund returns one paid line's money: at most once per line (its ref names the line)
        Index("uq_ledger_entry_refund", "ref", unique=True, postgresql_where=text("kind = 'refund'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    memo: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    # what caused it, e.g. "allocation:7", "adjustment:3", "disbursement:12"
    ref: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    # an entry is reversed at most once
    reverses_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("ledger_entry.id"),
                                                                   unique=True))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class LedgerLine(Base, table=True):
    __tablename__ = "ledger_line"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount"),
        Index("ix_ledger_line_account_entry", "account_id", "entry_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ledger_entry.id"), nullable=False, index=True))
    account_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ledger_account.id"), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
