import uuid
from datetime import datetime

from sqlalchemy import (CheckConstraint, Column, DateTime, Float, Index, Integer, LargeBinary, SmallInteger, String,
                        Text, func, text)
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field

from services.notifications.base import Base

STATUSES = ("queued", "sent", "failed")


class SmsMessage(Base, table=True):
    """One SMS: its text, the recipient's phone (encrypted; masked copy for display) and delivery state.

    ``id`` is what the provider receives as the message id and ``Idempotency-Key``; ``dedupe_key`` names the
    business fact the SMS is about (``payment.paid:<batch>:<household>``…) so a fact reported twice is one SMS.
    """

    __tablename__ = "sms_message"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_sms_message_due", "next_attempt_at", postgresql_where=text("status = 'queued'")),
        Index("ix_sms_message_created", "created_at", "id"),
        Index("ix_sms_message_region", "region_code", "created_at"),
    )

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    dedupe_key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    event_id: uuid.UUID | None = Field(default=None, sa_column=Column(UUID(as_uuid=True)))
    region_code: str = Field(sa_column=Column(String(12), nullable=False))
    phone_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    phone_masked: str | None = Field(default=None, sa_column=Column(String(32)))
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    parts: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, server_default="1"))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class SmsCounter(Base, table=True):
    """The SMS counters behind ``/metrics``: added to in the transaction that changes a message's state, by
    whichever worker process does it, and read at scrape time (``sms.metrics``). Each counter is split over
    ``SHARDS`` rows, so concurrent transactions seldom wait for one another's row; a scrape sums them."""

    __tablename__ = "sms_counter"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    shard: int = Field(default=0, sa_column=Column(SmallInteger, primary_key=True, server_default="0"))
    value: float = Field(default=0, sa_column=Column(Float, nullable=False, server_default="0"))
