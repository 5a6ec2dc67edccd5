"""一码申报 self-reports. Personal data is stored as the registry stores members: the ID number encrypted
(``id_enc``) beside its mask and its keyed digest (``id_hmac``, which matched it to the registry person), the
phone encrypted beside its mask. ``case_id`` is set when a case is opened from the report."""

from datetime import datetime

from sqlalchemy import CHAR, BigInteger, CheckConstraint, Column, DateTime, Identity, Index, Integer, LargeBinary, String, Text, text
from sqlmodel import Field

from services.registry.base import Base

REPORT_STATUSES = ("open", "accepted", "dismissed")


class MonitoringReport(Base, table=True):
    __tablename__ = "monitoring_report"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'accepted', 'dismissed')", name="status"),
        CheckConstraint("octet_length(id_hmac) = 32", name="id_hmac"),
        CheckConstraint("village_code ~ '^[0-9]{12}$'", name="village_code"),
        Index("ix_monitoring_report_village", "village_code", "status", "id"),
        Index("ix_monitoring_report_open", "village_code", "created_at", postgresql_where=text("status = 'open'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    reference: str = Field(sa_column=Column(String(32), nullable=False, unique=True))   # what the villager got
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    id_hmac: bytes = Field(sa_column=Column(LargeBinary, nullable=False, index=True))
    id_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    id_masked: str = Field(sa_column=Column(String(18), nullable=False))
    phone_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    phone_masked: str = Field(sa_column=Column(String(16), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    household_id: int | None = Field(default=None, sa_column=Column(BigInteger))      # the matched person's
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="open"))
    case_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64)))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
