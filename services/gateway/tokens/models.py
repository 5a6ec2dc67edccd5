import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field

from services.gateway.base import Base


class RefreshToken(Base, table=True):
    """One refresh token (only its SHA-256 is kept). Each use rotates it within its family;
    presenting a used one again revokes the whole family."""

    __tablename__ = "refresh_token"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    family: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, index=True))
    kind: str = Field(max_length=8)             # "user" | "client"
    sub: str = Field(max_length=64)
    access_jti: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    access_exp: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class RevokedToken(Base, table=True):
    """An access token revoked before its expiry (logout, refresh reuse). Mirrored into Redis."""

    __tablename__ = "revoked_token"

    jti: str = Field(sa_column=Column(String(64), primary_key=True))
    sub: str = Field(max_length=64)
    exp: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    revoked_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
