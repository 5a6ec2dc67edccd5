"""部门筛查 tables.

``screening_row``: one fact a department reported about a person (医保 self-paid costs, 民政 低保/临时救助, 残联,
应急 disaster losses). ``digest`` is a keyed digest of the row's content (ID number, department, type, amount,
date): its unique key makes re-importing a file create nothing. The person is kept as their ID digest and mask
only; ``household_id`` is the registry household they were matched to (null: not in the importer's registry).

``monitoring_warning``: a rule of ``rules.py`` that fired for a household and year, with the figures that made
it fire; at most one open warning per household, rule and year. ``case_id`` is set when a case is opened from it.
"""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from services.registry.base import Base

WARNING_STATUSES = ("open", "case_opened", "dismissed")


class ScreeningRow(Base, table=True):
    __tablename__ = "screening_row"
    __table_args__ = (
        CheckConstraint("octet_length(digest) = 32 AND octet_length(id_hmac) = 32", name="digests"),
        CheckConstraint("amount_fen >= 0", name="amount"),
        Index("ix_screening_row_household_year", "household_id", "year", "kind",
              postgresql_include=["amount_fen"], postgresql_where=text("household_id IS NOT NULL")),
        Index("ix_screening_row_unmatched", "id_hmac", postgresql_where=text("household_id IS NULL")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    digest: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    job_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))        # the import that brought it first
    id_hmac: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    id_masked: str = Field(sa_column=Column(String(18), nullable=False))
    household_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    department: str = Field(sa_column=Column(String(32), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    occurred_on: date = Field(sa_column=Column(Date, nullable=False))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))


class MonitoringWarning(Base, table=True):
    __tablename__ = "monitoring_warning"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'case_opened', 'dismissed')", name="status"),
        Index("uq_monitoring_warning_open", "household_id", "rule", "year", unique=True,
              postgresql_where=text("status = 'open'")),
        Index("ix_monitoring_warning_village", "village_code", "status", "id"),
        Index("ix_monitoring_warning_household", "household_id", "rule", "year"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    household_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    rule: str = Field(sa_column=Column(String(32), nullable=False))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    figures: dict = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="open"))
    case_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    job_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, sa_column=Column(String(64)))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False,
                                                  server_default=text("now()")))
