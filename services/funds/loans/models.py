"""扶贫小额信贷 as the partner banks report it: every event kept once (per bank and ``event_id``); a loan's row is
recomputed from its events in ``occurred_at`` order whenever one arrives, so late and out-of-order posts land
where they belong. 贴息 lines say which days of a loan were subsidized (each day at most once)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, Date, DateTime, ForeignKey, Identity, Index,
                        Integer, LargeBinary, Numeric, SmallInteger, String, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from services.funds.base import Base
from services.funds.glossary import LoanEventKind, LoanStatus
from shared.models import sql_in


class Loan(Base, table=True):
    __tablename__ = "loan"
    __table_args__ = (CheckConstraint(f"status IN ({sql_in(LoanStatus)})", name="status"),
                      Index("ix_loan_region_status", "region_code", "status"))

    loan_no: str = Field(sa_column=Column(String(64), primary_key=True))
    bank_code: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    household_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False))      # the household's village
    id_masked: str = Field(sa_column=Column(String(18), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    rating: str | None = Field(default=None, sa_column=Column(String(16)))
    credit_line: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))     # fen
    principal: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    outstanding: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # what the risk compensation fund paid the bank (代偿): the outstanding principal when it defaulted
    compensated: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    rate: Decimal | None = Field(default=None, sa_column=Column(Numeric(8, 6)))    # yearly, e.g. 0.0435
    term_months: int | None = Field(default=None, sa_column=Column(SmallInteger))
    issued_on: date | None = Field(default=None, sa_column=Column(Date))
    overdue_since: date | None = Field(default=None, sa_column=Column(Date))
    # state.LoanState.steps as [["YYYY-MM-DD", fen, "rate"], ...]: 贴息 reads them in SQL
    steps: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False, server_default="[]"))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class LoanEvent(Base, table=True):
    __tablename__ = "loan_event"
    __table_args__ = (UniqueConstraint("bank_code", "event_id", name="once_per_bank"),
                      CheckConstraint(f"kind IN ({sql_in(LoanEventKind)})", name="kind"),
                      Index("ix_loan_event_loan_order", "loan_no", "occurred_at", "id"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    bank_code: str = Field(sa_column=Column(String(32), nullable=False))
    event_id: str = Field(sa_column=Column(String(64), nullable=False))
    loan_no: str = Field(sa_column=Column(String(64), ForeignKey("loan.loan_no"), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    amount: int | None = Field(default=None, sa_column=Column(BigInteger))       # fen
    rate: Decimal | None = Field(default=None, sa_column=Column(Numeric(8, 6)))
    term_months: int | None = Field(default=None, sa_column=Column(SmallInteger))
    credit_line: int | None = Field(default=None, sa_column=Column(BigInteger))
    rating: str | None = Field(default=None, sa_column=Column(String(16)))
    id_hmac: bytes = Field(sa_column=Column(LargeBinary, nullable=False))     # who the bank said the borrower is
    body_hash: str = Field(sa_column=Column(CHAR(64), nullable=False))        # the same event_id with another body: 409
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class LoanEventRejection(Base, table=True):
    """A loan event a bank posted and was refused (unknown borrower, another bank's loan, an impossible event, a
    bad field...): the problem it was answered with, kept for the bank to see. One row per bank and ``event_id``
    (a retry of the same refused event counts ``attempts``); ``accepted_at`` once the event was later stored."""

    __tablename__ = "loan_event_rejection"
    __table_args__ = (UniqueConstraint("bank_code", "event_id", name="rejection_once_per_bank"),
                      Index("ix_loan_event_rejection_bank_id", "bank_code", "id"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    bank_code: str = Field(sa_column=Column(String(32), nullable=False))
    event_id: str = Field(sa_column=Column(String(64), nullable=False))
    loan_no: str | None = Field(default=None, sa_column=Column(String(64)))
    kind: str | None = Field(default=None, sa_column=Column(String(16)))
    status: int = Field(sa_column=Column(SmallInteger, nullable=False))          # the problem's HTTP status
    problem_type: str = Field(sa_column=Column(String(200), nullable=False))
    reason: str = Field(sa_column=Column(String(2000), nullable=False))
    errors: list | None = Field(default=None, sa_column=Column(JSONB))
    body: dict = Field(sa_column=Column(JSONB, nullable=False))      # what was posted, the ID number masked
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    first_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    last_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class LoanReminder(Base, table=True):
    """A ``loan.reminder`` written to the outbox: once per loan per overdue spell (``on`` = the day it became
    overdue) and once per due date (``on`` = the due date)."""

    __tablename__ = "loan_reminder"
    __table_args__ = (UniqueConstraint("loan_no", "kind", "on", name="loan_reminder_once"),
                      CheckConstraint("kind IN ('overdue', 'due_soon')", name="kind"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    loan_no: str = Field(sa_column=Column(String(64), ForeignKey("loan.loan_no"), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    on: date = Field(sa_column=Column(Date, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class InterestSubsidy(Base, table=True):
    """One 贴息 computation: the period asked for, the allocation it was paid from, the ledger entry."""

    __tablename__ = "interest_subsidy"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    period_start: date = Field(sa_column=Column(Date, nullable=False))
    period_end: date = Field(sa_column=Column(Date, nullable=False))
    allocation_id: int = Field(sa_column=Column(BigInteger, ForeignKey("allocation.id"), nullable=False))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("ledger_entry.id")))
    lines: list[dict] = Field(sa_column=Column(JSONB, nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class SubsidizedDays(Base, table=True):
    """Days of a loan already subsidized (inclusive range): the same day is never paid twice, even when periods
    overlap (one computation runs at a time, under an advisory lock, so the next sees the days the last paid)."""

    __tablename__ = "subsidized_days"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    loan_no: str = Field(sa_column=Column(String(64), ForeignKey("loan.loan_no"), nullable=False, index=True))
    first_day: date = Field(sa_column=Column(Date, nullable=False))
    last_day: date = Field(sa_column=Column(Date, nullable=False))
    subsidy_id: int = Field(sa_column=Column(BigInteger, ForeignKey("interest_subsidy.id"), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    days: int = Field(sa_column=Column(Integer, nullable=False))
