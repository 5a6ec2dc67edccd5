"""帮扶 tables: incomes and assurances per household and year, measures, visits."""

import uuid
from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    Uuid,
    func,
)
from sqlmodel import Field

from services.registry.base import Base
from services.registry.glossary import Batch
from shared.models import sql_in


class Income(Base, table=True):
    """A household's income for a year, in fen; ``per_capita_net_fen`` is computed when written, with the
    member count of that moment (kept in ``members``)."""

    __tablename__ = "income"
    __table_args__ = (
        CheckConstraint("wage_fen >= 0 AND production_fen >= 0 AND transfer_fen >= 0 AND property_fen >= 0 "
                        "AND expenses_fen >= 0", name="non_negative"),
        CheckConstraint("members > 0", name="members"),
    )

    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), primary_key=True))
    year: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    wage_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    production_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    transfer_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    property_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    expenses_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    members: int = Field(sa_column=Column(SmallInteger, nullable=False))
    per_capita_net_fen: int = Field(sa_column=Column(BigInteger, nullable=False))   # may be negative
    updated_by: str = Field(sa_column=Column(String(64), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class Assurance(Base, table=True):
    """两不愁三保障 for a household and year."""

    __tablename__ = "assurance"

    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), primary_key=True))
    year: int = Field(sa_column=Column(SmallInteger, primary_key=True))
    food: bool = Field(sa_column=Column(Boolean, nullable=False))
    clothing: bool = Field(sa_column=Column(Boolean, nullable=False))
    education: bool = Field(sa_column=Column(Boolean, nullable=False))
    medical: bool = Field(sa_column=Column(Boolean, nullable=False))
    housing: bool = Field(sa_column=Column(Boolean, nullable=False))
    water: bool = Field(sa_column=Column(Boolean, nullable=False))
    updated_by: str = Field(sa_column=Column(String(64), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class Measure(Base, table=True):
    """A 五个一批 measure taken for a household."""

    __tablename__ = "measure"
    __table_args__ = (
        CheckConstraint(f"batch IN ({sql_in(Batch)})", name="batch"),
        Index("ix_measure_household", "household_id", "id"),
        Index("ix_measure_year_village", "year", "village_code", postgresql_include=["batch", "household_id"]),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), nullable=False))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    batch: str = Field(sa_column=Column(String(32), nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class Visit(Base, table=True):
    """A helper's visit (走访), uploaded by the app, possibly more than once: ``client_id`` makes it idempotent."""

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_household", "household_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), nullable=False))
    client_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    visited_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    notes: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    visitor: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
