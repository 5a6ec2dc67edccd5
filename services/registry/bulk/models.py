"""Import jobs and the household keys files bring with them.

``import_job`` is the job a client polls (``GET /api/v1/jobs/{id}``): the uploaded file is kept in ``content``
until the job ends (in the database, so any worker machine can run it), progress in ``total``/``done``, the
first row errors in ``errors`` (``errors_total`` counts them all).

``import_household_ref`` remembers the 户编号 of a file that is not itself a registry household number
(e.g. ``12`` or a number from another system): (village, that key) → the household it created, so importing
the same file again matches instead of creating.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from services.registry.base import Base

JOB_STATUSES = ("queued", "running", "done", "failed")


class ImportJob(Base, table=True):
    __tablename__ = "import_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        Index("ix_import_job_unfinished", "created_at", postgresql_where="status IN ('queued', 'running')"),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False, server_default="households"))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="queued"))
    region_code: str = Field(sa_column=Column(CHAR(12), nullable=False))     # the importer's scope
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(32), nullable=False))
    filename: str = Field(sa_column=Column(String(255), nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    total: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    done: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    errors: list = Field(sa_column=Column(JSONB, nullable=False, server_default="[]"))
    errors_total: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    summary: dict = Field(sa_column=Column(JSONB, nullable=False, server_default="{}"))
    message: str | None = Field(default=None, sa_column=Column(Text))
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class ImportHouseholdRef(Base, table=True):
    __tablename__ = "import_household_ref"

    village_code: str = Field(sa_column=Column(CHAR(12), primary_key=True))
    ref: str = Field(sa_column=Column(String(64), primary_key=True))
    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), nullable=False, index=True))
