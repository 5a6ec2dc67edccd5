"""Bank statements (对账单, camt.053-like) and the reversals they brought. Amounts in fen.

A statement is the bank's record of what it booked; entries keep the line reference parsed into the batch and line
ids, and are matched to the batch only at reading time, only when the statement is of the batch's own bank (an
entry naming another bank's batch, or none, stays unmatched and shows nowhere). A reversal of a paid line re-opens
its money once: one ``refund`` ledger entry (unique per line in the ledger itself) and one row here."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (CHAR, BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Identity,
                        Index, Integer, String, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from services.funds.base import Base


class BankStatement(Base, table=True):
    __tablename__ = "bank_statement"
    __table_args__ = (UniqueConstraint("bank_code", "statement_id", name="statement_once_per_bank"),
                      CheckConstraint("entry_count >= 0", name="entry_count"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    bank_code: str = Field(sa_column=Column(String(32), nullable=False))
    statement_id: str = Field(sa_column=Column(String(64), nullable=False))       # the bank's own id
    booked_on: date = Field(sa_column=Column(Date, nullable=False))
    entry_count: int = Field(sa_column=Column(Integer, nullable=False))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))              # bookings
    reversed_total: int = Field(sa_column=Column(BigInteger, nullable=False))     # reversals
    content_hash: str = Field(sa_column=Column(CHAR(64), nullable=False))
    answer: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))       # what the bank was told
    received_by: str = Field(sa_column=Column(String(64), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False,
                                                   server_default=func.now()))


class BankStatementEntry(Base, table=True):
    __tablename__ = "bank_statement_entry"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),
                      Index("ix_bank_statement_entry_line", "disbursement_id", "line_id"))

    # no foreign key: its check, row by row, cost more than the COPY of 100,000 entries itself; entries are written
    # only by that COPY, right after their statement's row, in the same transaction
    statement_pk: int = Field(sa_column=Column(BigInteger, primary_key=True))
    seq: int = Field(sa_column=Column(Integer, primary_key=True))                 # its place in the statement
    disbursement_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    line_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    booked_on: date = Field(sa_column=Column(Date, nullable=False))
    bank_ref: str | None = Field(default=None, sa_column=Column(String(64)))
    reversal: bool = Field(sa_column=Column(Boolean, nullable=False))


class PaymentReversal(Base, table=True):
    """A paid line whose money a bank reversal re-opened (spent → available)."""

    __tablename__ = "payment_reversal"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    line_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement_line.id"), primary_key=True))
    disbursement_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement.id"), nullable=False,
                                                  index=True))
    allocation_id: int = Field(sa_column=Column(BigInteger, ForeignKey("allocation.id"), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ledger_entry.id"), nullable=False, unique=True))
    statement_pk: int = Field(sa_column=Column(BigInteger, ForeignKey("bank_statement.id"), nullable=False,
                                               index=True))
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
