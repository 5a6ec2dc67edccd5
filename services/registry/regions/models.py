from datetime import datetime

from sqlalchemy import CHAR, Column, DateTime, func
from sqlmodel import Field

from services.registry.base import Base


class Region(Base, table=True):
    __tablename__ = "region"

    code: str = Field(sa_column=Column(CHAR(12), primary_key=True))
    name: str = Field(max_length=64)
    level: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, sa_column=Column(CHAR(12), index=True))
    rural_population: int = Field(default=0, ge=0)
    version: int = Field(default=1)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
