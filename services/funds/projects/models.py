"""扶贫项目: a village project funded from allocations of its purpose (commitments) and paid in stages (spending).
Amounts in fen; the money itself is on the ledger, these rows say which project it is for."""

from datetime import datetime

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Integer, String,
                        Text, func)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field

from services.funds.base import Base
from services.funds.glossary import PaymentStage, ProjectStatus, Purpose
from shared.models import sql_in


class Project(Base, table=True):
    __tablename__ = "project"
    __table_args__ = (CheckConstraint(f"status IN ({sql_in(ProjectStatus)})", name="status"),
                      CheckConstraint(f"purpose IN ({sql_in(Purpose)})", name="purpose"),
                      CheckConstraint("budget > 0", name="budget"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    purpose: str = Field(sa_column=Column(String(32), nullable=False))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False, index=True))
    budget: int = Field(sa_column=Column(BigInteger, nullable=False))
    beneficiary_household_ids: list[int] = Field(sa_column=Column(ARRAY(BigInteger), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="proposed"))
    proposed_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    # when the project entered its current status (滞留 alerts: a stage held too long)
    status_since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False,
                                                    server_default=func.now()))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))


class ProjectFunding(Base, table=True):
    """Money of one allocation committed to the project; ``spent`` by its payments, ``released`` back to the
    allocation when the project is settled or cancelled."""

    __tablename__ = "project_funding"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),
                      CheckConstraint("spent >= 0 AND released >= 0 AND spent + released <= amount", name="use"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    project_id: int = Field(sa_column=Column(BigInteger, ForeignKey("project.id"), nullable=False, index=True))
    allocation_id: int = Field(sa_column=Column(BigInteger, ForeignKey("allocation.id"), nullable=False))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    spent: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    released: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("ledger_entry.id"), nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class ProjectPayment(Base, table=True):
    __tablename__ = "project_payment"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),
                      CheckConstraint(f"stage IN ({sql_in(PaymentStage)})", name="stage"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    project_id: int = Field(sa_column=Column(BigInteger, ForeignKey("project.id"), nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    payee: str = Field(sa_column=Column(String(200), nullable=False))
    stage: str = Field(sa_column=Column(String(16), nullable=False))
    memo: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    entry_ids: list[int] = Field(sa_column=Column(ARRAY(BigInteger), nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
