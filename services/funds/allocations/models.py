"""Allocations (资金下达): money of one source earmarked for one purpose in one region and year; 调项 proposals.

What an allocation holds is on its ledger accounts (available, committed, spent), never in a column here."""

from datetime import datetime

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Integer,
                        SmallInteger, String, Text, func)
from sqlmodel import Field

from services.funds.base import Base
from services.funds.glossary import AdjustmentStatus, Purpose
from shared.models import sql_in


class Allocation(Base, table=True):
    __tablename__ = "allocation"
    __table_args__ = (CheckConstraint(f"purpose IN ({sql_in(Purpose)})", name="purpose"),
                      CheckConstraint("granted > 0", name="granted"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    source_id: int = Field(sa_column=Column(BigInteger, ForeignKey("fund_source.id"), nullable=False, index=True))
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False, index=True))
    purpose: str = Field(sa_column=Column(String(32), nullable=False))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    doc_no: str = Field(sa_column=Column(String(100), nullable=False))
    granted: int = Field(sa_column=Column(BigInteger, nullable=False))       # fen, as first allocated
    # set when a 调项 created this allocation
    adjustment_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))


class Adjustment(Base, table=True):
    """A 调项: move ``amount`` of an allocation to another purpose, once a second county_admin approves."""

    __tablename__ = "adjustment"
    __table_args__ = (CheckConstraint(f"to_purpose IN ({sql_in(Purpose)})", name="to_purpose"),
                      CheckConstraint(f"status IN ({sql_in(AdjustmentStatus)})", name="status"),
                      CheckConstraint("amount > 0", name="amount"),
                      CheckConstraint("status <> 'approved' OR decided_by <> proposed_by", name="four_eyes"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    allocation_id: int = Field(sa_column=Column(BigInteger, ForeignKey("allocation.id"), nullable=False,
                                                index=True))
    to_purpose: str = Field(sa_column=Column(String(32), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))        # fen
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="proposed"))
    proposed_by: str = Field(sa_column=Column(String(64), nullable=False))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64)))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    new_allocation_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("allocation.id")))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("ledger_entry.id")))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
