import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field

from services.notifications.base import Base


class PendingEvent(Base, table=True):
    """An event already consumed whose messages wait on another service (the gateway's list of officers).

    Kept here, not in the queue, so a gateway outage delays those messages and never loses them.
    """

    __tablename__ = "pending_event"
    __table_args__ = (
        CheckConstraint("status IN ('waiting', 'failed')", name="status"),
        Index("ix_pending_event_due", "next_attempt_at", postgresql_where=text("status = 'waiting'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    topic: str = Field(sa_column=Column(String(64), nullable=False))
    source: str = Field(sa_column=Column(String(64), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="waiting"))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
