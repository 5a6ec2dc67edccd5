"""风险补偿 claims: a defaulted loan's claim on the risk compensation fund (风险补偿金), one per loan."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, Date, DateTime, ForeignKey, Identity, Index,
                        Integer, Numeric, String, func)
from sqlmodel import Field

from services.funds.base import Base
from services.funds.glossary import RiskClaimStatus
from shared.models import sql_in


class RiskClaim(Base, table=True):
    __tablename__ = "risk_claim"
    __table_args__ = (CheckConstraint(f"status IN ({sql_in(RiskClaimStatus)})", name="status"),
                      CheckConstraint("principal >= 0 AND amount >= 0", name="amounts"),
                      CheckConstraint("status <> 'paid' OR (entry_id IS NOT NULL AND allocation_id IS NOT NULL)",
                                      name="paid_entry"),
                      CheckConstraint("status <> 'paid' OR decided_by <> reviewed_by", name="four_eyes"),
                      Index("ix_risk_claim_region_status", "region_code", "status"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    loan_no: str = Field(sa_column=Column(String(64), ForeignKey("loan.loan_no"), nullable=False, unique=True))
    bank_code: str = Field(sa_column=Column(String(32), nullable=False))
    household_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False))      # the borrower's village
    defaulted_on: date = Field(sa_column=Column(Date, nullable=False))
    principal: int = Field(sa_column=Column(BigInteger, nullable=False))      # fen: outstanding when it defaulted
    share: Decimal = Field(sa_column=Column(Numeric(5, 4), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))         # fen: principal × share, half-up
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="open"))
    reviewed_by: str | None = Field(default=None, sa_column=Column(String(64)))
    reviewed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64)))       # who paid or rejected it
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    note: str | None = Field(default=None, sa_column=Column(String(500)))
    allocation_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("allocation.id")))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("ledger_entry.id")))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
