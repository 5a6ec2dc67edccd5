from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, String, func
from sqlmodel import Field

from services.gateway.base import Base


class BankClient(Base, table=True):
    """A partner bank's machine credentials (OAuth2 client_credentials)."""

    __tablename__ = "bank_client"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    client_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    name: str = Field(max_length=64)
    bank_code: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    active: bool = Field(default=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
