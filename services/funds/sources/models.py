from datetime import datetime

from sqlalchemy import CHAR, BigInteger, Column, DateTime, Identity, func
from sqlmodel import Field

from services.funds.base import Base


class FundSource(Base, table=True):
    __tablename__ = "fund_source"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    name: str = Field(max_length=200)
    level: str = Field(max_length=16)
    doc_no: str = Field(max_length=100)
    year: int
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False, index=True))
    created_by: str = Field(max_length=64)
    version: int = Field(default=1)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
