"""监测 cases and their history. A household has at most one open case (any status but eliminated or rejected):
a partial unique index says so, so two cadres reporting at once get one case and a 409. The history
(``monitoring_case_step``) is append-only: a trigger refuses any UPDATE or DELETE of its rows."""

from datetime import datetime
from typing import Any

from sqlalchemy import (CHAR, BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, Integer,
                        SmallInteger, String, Text, func, text)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field

from services.registry.base import Base
from services.registry.monitoring.cases.glossary import CLOSED_STATUSES, CaseStatus, Category, Phase, RiskType, Source
from shared.models import sql_in

OPEN = f"status NOT IN ({', '.join(repr(s) for s in CLOSED_STATUSES)})"


class MonitoringCase(Base, table=True):
    """One household's 监测 case: who reported what, where it stands, and the 公示 it waits for (``notice_id``)."""

    __tablename__ = "monitoring_case"
    __table_args__ = (
        CheckConstraint(f"category IN ({sql_in(Category)})", name="category"),
        CheckConstraint(f"source IN ({sql_in(Source)})", name="source"),
        CheckConstraint(f"status IN ({sql_in(CaseStatus)})", name="status"),
        CheckConstraint(f"phase IN ({sql_in(Phase)})", name="phase"),
        CheckConstraint(f"risk_types <@ ARRAY[{sql_in(RiskType)}]::varchar[] AND cardinality(risk_types) > 0",
                        name="risk_types"),
        Index("uq_monitoring_case_open", "household_id", unique=True, postgresql_where=text(OPEN)),
        Index("ix_monitoring_case_village", "village_code", "id"),
        Index("ix_monitoring_case_household", "household_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    case_no: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), nullable=False))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    category: str = Field(sa_column=Column(String(16), nullable=False))
    risk_types: list[str] = Field(sa_column=Column(ARRAY(String(32)), nullable=False))
    source: str = Field(sa_column=Column(String(16), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="reported"))
    phase: str = Field(sa_column=Column(String(16), nullable=False, server_default="inclusion"))
    notice_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    reported_by: str = Field(sa_column=Column(String(64), nullable=False))
    reported_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    verified_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    approved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    closed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))   # eliminated/rejected
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class MonitoringCaseStep(Base, table=True):
    """One step of a case's history: who, when, what, from which status to which, with notes (and, for a closed
    公示, the upheld objections). Never changed or deleted."""

    __tablename__ = "monitoring_case_step"
    __table_args__ = (Index("ix_monitoring_case_step_case", "case_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    case_id: int = Field(sa_column=Column(BigInteger, ForeignKey("monitoring_case.id"), nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(32), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(16)))
    to_status: str = Field(sa_column=Column(String(16), nullable=False))
    notes: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    notice_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    detail: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")))
