from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Integer, SmallInteger, String, func
from sqlmodel import Field

from services.registry.base import Base


class MonitoringThreshold(Base, table=True):
    """One region's 监测标准 for a year (yuan per person and year, stored in fen). ``prefix`` is the region code's
    significant digits, so "the most specific region covering a village" is the longest matching prefix."""

    __tablename__ = "monitoring_threshold"
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount"),
                      CheckConstraint("region_code LIKE prefix || '%'", name="prefix"))

    year: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    region_code: str = Field(sa_column=Column(String(12), primary_key=True))
    prefix: str = Field(sa_column=Column(String(12), nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    updated_by: str = Field(sa_column=Column(String(64), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
