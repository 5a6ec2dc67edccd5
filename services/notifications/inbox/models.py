import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field

from services.notifications.base import Base


class InboxMessage(Base, table=True):
    """A message in a user's app inbox (站内信)."""

    __tablename__ = "inbox_message"
    __table_args__ = (
        Index("ix_inbox_message_user", "user_id", "id"),
        # the unread count: an index-only count of one user's unread messages
        Index("ix_inbox_message_unread", "user_id", postgresql_where=text("read_at IS NULL")),
        # one message per user and fact (a county's alerts of one day), whatever the event id
        Index("uq_inbox_message_user_dedupe", "user_id", "dedupe_key", unique=True,
              postgresql_where=text("dedupe_key IS NOT NULL")),
        # one message per event and user: a fan-out resumed after a crash never doubles a message
        Index("uq_inbox_message_event_user", "event_id", "user_id", unique=True,
              postgresql_where=text("event_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    user_id: str = Field(max_length=64)
    kind: str = Field(max_length=64)
    title: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    event_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    dedupe_key: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    read_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
