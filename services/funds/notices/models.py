from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (CHAR, BigInteger, Column, DateTime, ForeignKey, Identity, Index, Integer, Numeric, String,
                        Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from services.funds.base import Base


class Notice(Base, table=True):
    """A 公示: what was published (its items, already masked and frozen at opening, in ``notice_item``) and how it
    ended."""

    __tablename__ = "notice"
    __table_args__ = (
        # one open notice per requested action; a retried open finds it instead of opening a second
        Index("uq_notice_open_request", "requester", "requester_ref", unique=True,
              postgresql_where=text("status = 'open'")),
        Index("ix_notice_status_region", "status", "region_code"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False, index=True))
    region_name: str | None = Field(default=None, sa_column=Column(String(64)))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    requester: str = Field(sa_column=Column(String(16), nullable=False))
    requester_ref: str = Field(sa_column=Column(String(128), nullable=False))
    item_count: int = Field(sa_column=Column(Integer, nullable=False))
    amount_total: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 2)))   # of the items' amounts
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    content_hash: str = Field(sa_column=Column(CHAR(64), nullable=False))
    status: str = Field(default="open", sa_column=Column(String(16), nullable=False))
    opened_by: str = Field(sa_column=Column(String(64), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    closed_by: str | None = Field(default=None, sa_column=Column(String(64)))
    withdraw_reason: str | None = Field(default=None, sa_column=Column(Text))
    struck_refs: list[str] | None = Field(default=None, sa_column=Column(JSONB))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class Objection(Base, table=True):
    """A villager's 异议 against a notice; the contact phone is kept in full only to send the reply."""

    __tablename__ = "notice_objection"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    notice_id: int = Field(sa_column=Column(BigInteger, ForeignKey("notice.id"), nullable=False, index=True))
    contact_name: str = Field(sa_column=Column(String(32), nullable=False))
    contact_phone: str = Field(sa_column=Column(String(11), nullable=False))
    content: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    reply: str | None = Field(default=None, sa_column=Column(Text))
    item_refs: list[str] | None = Field(default=None, sa_column=Column(JSONB))
    resolved_by: str | None = Field(default=None, sa_column=Column(String(64)))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class NoticeItem(Base, table=True):
    """One listed item as published (masked), in the notice's order (``seq`` from 1): read page by page."""

    __tablename__ = "notice_item"
    __table_args__ = (UniqueConstraint("notice_id", "ref", name="uq_notice_item_ref"),)

    notice_id: int = Field(sa_column=Column(BigInteger, ForeignKey("notice.id"), primary_key=True))
    seq: int = Field(sa_column=Column(Integer, primary_key=True))
    ref: str = Field(sa_column=Column(String(128), nullable=False))
    item: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
