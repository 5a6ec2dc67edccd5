from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    SmallInteger,
    String,
    func,
)
from sqlmodel import Field

from services.registry.base import Base


class PovertyLine(Base, table=True):
    """The national poverty line for a year (yuan per person and year, stored in fen)."""

    __tablename__ = "poverty_line"
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount"),)

    year: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    updated_by: str = Field(sa_column=Column(String(64), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
