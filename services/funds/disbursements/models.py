"""Household payment batches (到户补贴) and their lines. Amounts in fen.

A line keeps what the 公示, the bank and the SMS need, taken from the registry when the batch is made: the
head's name, masked ID number and the household number in clear; the full ID number, the head's phone and the
一卡通 account encrypted (shared.pii)."""

from datetime import datetime

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint, func)
from sqlmodel import Field

from services.funds.base import Base
from services.funds.glossary import DisbursementStatus, LineStatus
from shared.models import sql_in


class Disbursement(Base, table=True):
    __tablename__ = "disbursement"
    __table_args__ = (CheckConstraint(f"status IN ({sql_in(DisbursementStatus)})", name="status"),
                      CheckConstraint("approved_by IS NULL OR approved_by <> created_by", name="four_eyes"),
                      CheckConstraint("total > 0", name="total"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    allocation_id: int = Field(sa_column=Column(BigInteger, ForeignKey("allocation.id"), nullable=False,
                                                index=True))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False, index=True))
    purpose: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="draft"))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))     # fen, of the lines as listed
    notice_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    approved_by: str | None = Field(default=None, sa_column=Column(String(64)))
    entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("ledger_entry.id")))
    bank_code: str | None = Field(default=None, sa_column=Column(String(32), index=True))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))


class DisbursementLine(Base, table=True):
    __tablename__ = "disbursement_line"
    __table_args__ = (UniqueConstraint("disbursement_id", "household_id", name="one_line_per_household"),
                      CheckConstraint(f"status IN ({sql_in(LineStatus)})", name="status"),
                      CheckConstraint("amount > 0", name="amount"),
                      Index("ix_disbursement_line_batch_line", "disbursement_id", "id"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    disbursement_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement.id"), nullable=False))
    household_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    memo: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    household_no: str = Field(sa_column=Column(String(20), nullable=False))
    head_name: str = Field(sa_column=Column(String(64), nullable=False))
    head_id_masked: str | None = Field(default=None, sa_column=Column(String(18)))
    head_id_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    phone_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    account_bank_code: str | None = Field(default=None, sa_column=Column(String(32)))
    account_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    account_masked: str | None = Field(default=None, sa_column=Column(String(40)))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="listed"))
    bank_ref: str | None = Field(default=None, sa_column=Column(String(64)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    final_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class DisbursementWarning(Base, table=True):
    """A line for a household already paid, or committed in another approved batch, for the same purpose in the
    same year (found when the batch is made)."""

    __tablename__ = "disbursement_warning"
    __table_args__ = (CheckConstraint("earlier_status IN ('paid', 'committed')", name="earlier_status"),
                      Index("ix_disbursement_warning_batch_line", "disbursement_id", "line_id"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    disbursement_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement.id"), nullable=False))
    line_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement_line.id"), nullable=False))
    household_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    earlier_disbursement_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement.id"), nullable=False))
    earlier_line_id: int = Field(sa_column=Column(BigInteger, ForeignKey("disbursement_line.id"), nullable=False))
    earlier_status: str = Field(sa_column=Column(String(16), nullable=False))
