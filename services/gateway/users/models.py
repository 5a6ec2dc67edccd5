from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, String, Text, func
from sqlmodel import Field

from services.gateway.base import Base


class User(Base, table=True):
    """A staff account (county admin, officer, cadre, helper, finance, auditor)."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    display_name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=16)
    role: str = Field(max_length=32)
    region_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    active: bool = Field(default=True)
    created_by: str = Field(max_length=64)
    version: int = Field(default=1)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now(),
                                                  onupdate=func.now()))
