"""Household tables. Personal data is stored encrypted (``*_enc``, AES-GCM via shared.pii) next to a masked
copy (``*_masked``, what non-PII roles see) and, for ID numbers, a keyed digest (``id_hmac``) that carries the
registry-wide uniqueness constraint and serves lookups.

Designed for set-based loading (imports) and per-region aggregation (statistics):
- ``household.village_code`` is the 12-digit village; a region subtree is a range of it
  (``village_code BETWEEN '640122100000' AND '640122100999'``), served by ``ix_household_village_tally``, which
  also covers every column the statistics count (an index-only scan, no table reads);
- ``household.member_count`` and ``head_name`` are kept in step with ``member`` by the service (and must be by
  any bulk loader);
- ``household_no`` comes from ``village_seq`` (one row per village, bumped by n for n households);
- ``status_change`` records every status move with the year it counts for (exits / returns / new in a year), the
  village and the persons of the household at the move, so a year's figures never read the household table.
"""

from datetime import date, datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field

from services.registry.base import Base
from services.registry.glossary import (
    Attribute,
    Cause,
    Education,
    Health,
    Labor,
    Relation,
    Sex,
    Status,
)
from shared.models import sql_in


class VillageSeq(Base, table=True):
    """The last household number handed out per village (``household_no`` = village code + 4 digits)."""

    __tablename__ = "village_seq"

    village_code: str = Field(sa_column=Column(CHAR(12), primary_key=True))
    last_no: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))


class Household(Base, table=True):
    __tablename__ = "household"
    __table_args__ = (
        CheckConstraint(f"attribute IN ({sql_in(Attribute)})", name="attribute"),
        CheckConstraint(f"main_cause IN ({sql_in(Cause)})", name="main_cause"),
        CheckConstraint(f"status IN ({sql_in(Status)})", name="status"),
        CheckConstraint("pending_action IS NULL OR pending_action IN ('propose_registration', 'propose_exit')",
                        name="pending_action"),
        CheckConstraint("(pending_action IS NULL) = (pending_notice_id IS NULL)", name="pending_pair"),
        CheckConstraint("member_count >= 0", name="member_count"),
        CheckConstraint("village_code ~ '^[0-9]{12}$'", name="village_code"),
        Index("ix_household_village_tally", "village_code", "status", "attribute", "main_cause",
              postgresql_include=["member_count", "identified_year", "helper_user_id"]),
        Index("ix_household_helper", "helper_user_id", postgresql_where=text("helper_user_id IS NOT NULL")),
        Index("ix_household_pending_notice", "pending_notice_id",
              postgresql_where=text("pending_notice_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    household_no: str = Field(sa_column=Column(String(20), nullable=False, unique=True))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    address: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    phone_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    phone_masked: str | None = Field(default=None, sa_column=Column(String(16)))
    attribute: str = Field(sa_column=Column(String(16), nullable=False))
    main_cause: str = Field(sa_column=Column(String(32), nullable=False))
    other_causes: list[str] = Field(default_factory=list,
                                    sa_column=Column(ARRAY(String(32)), nullable=False, server_default="{}"))
    identified_year: int | None = Field(default=None, sa_column=Column(SmallInteger))
    payout_bank_code: str | None = Field(default=None, sa_column=Column(String(32)))
    payout_account_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    payout_account_masked: str | None = Field(default=None, sa_column=Column(String(40)))
    status: str = Field(sa_column=Column(String(16), nullable=False, server_default="pending"))
    pending_action: str | None = Field(default=None, sa_column=Column(String(32)))
    pending_notice_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    pending_year: int | None = Field(default=None, sa_column=Column(SmallInteger))
    registered_year: int | None = Field(default=None, sa_column=Column(SmallInteger))
    exit_year: int | None = Field(default=None, sa_column=Column(SmallInteger))
    returned_year: int | None = Field(default=None, sa_column=Column(SmallInteger))
    removed_year: int | None = Field(default=None, sa_column=Column(SmallInteger))
    status_reason: str | None = Field(default=None, sa_column=Column(Text))
    helper_user_id: str | None = Field(default=None, sa_column=Column(String(64)))
    helper_assigned_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    head_name: str = Field(sa_column=Column(String(64), nullable=False))
    member_count: int = Field(sa_column=Column(SmallInteger, nullable=False, server_default="0"))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    created_by: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class Member(Base, table=True):
    __tablename__ = "member"
    __table_args__ = (
        CheckConstraint(f"relation IN ({sql_in(Relation)})", name="relation"),
        CheckConstraint(f"health IN ({sql_in(Health)})", name="health"),
        CheckConstraint(f"labor IN ({sql_in(Labor)})", name="labor"),
        CheckConstraint(f"education IS NULL OR education IN ({sql_in(Education)})", name="education"),
        CheckConstraint(f"sex IN ({sql_in(Sex)})", name="sex"),
        CheckConstraint("octet_length(id_hmac) = 32", name="id_hmac"),
        # at most one head per household (the service also insists on at least one)
        Index("uq_member_one_head", "household_id", unique=True, postgresql_where=text("relation = 'head'")),
        Index("ix_member_name", "name", postgresql_ops={"name": "varchar_pattern_ops"}),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    # references household.id, checked once per statement by triggers (migration 26d178dd40cf): a row-by-row
    # foreign key was a third of an import's COPY; households are never deleted and never change id
    household_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    # A person is in at most one household of the whole registry: this constraint is the rule.
    id_hmac: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    id_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    id_masked: str = Field(sa_column=Column(String(18), nullable=False))
    sex: str = Field(sa_column=Column(String(8), nullable=False))
    birth_date: date = Field(sa_column=Column(Date, nullable=False))
    relation: str = Field(sa_column=Column(String(16), nullable=False))
    health: str = Field(sa_column=Column(String(16), nullable=False))
    labor: str = Field(sa_column=Column(String(16), nullable=False))
    education: str | None = Field(default=None, sa_column=Column(String(16)))
    in_school: bool = Field(sa_column=Column(Boolean, nullable=False, server_default="false"))
    migrant_worker: bool = Field(sa_column=Column(Boolean, nullable=False, server_default="false"))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class StatusChange(Base, table=True):
    """Every status move, with the year it counts for (statistics: exits / returns / new in a year)."""

    __tablename__ = "status_change"
    __table_args__ = (
        Index("ix_status_change_year_village", "year", "village_code",
              postgresql_include=["to_status", "household_id", "persons"]),
        CheckConstraint("persons >= 0", name="persons"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    household_id: int = Field(sa_column=Column(BigInteger, ForeignKey("household.id"), nullable=False, index=True))
    village_code: str = Field(sa_column=Column(CHAR(12), nullable=False))
    persons: int = Field(sa_column=Column(SmallInteger, nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(16)))
    to_status: str = Field(sa_column=Column(String(16), nullable=False))
    year: int = Field(sa_column=Column(SmallInteger, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    notice_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()))


class PiiAccessLog(Base, table=True):
    """Who was shown full ID numbers, when, of which households, through which endpoint (PIPL).

    Apart from the audit chain on purpose: one plain insert per response, no chain lock, so reads stay fast.
    """

    __tablename__ = "pii_access_log"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now(),
                                          index=True))
    actor: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(sa_column=Column(String(32), nullable=False))
    endpoint: str = Field(sa_column=Column(Text, nullable=False))
    household_ids: list[int] = Field(sa_column=Column(ARRAY(BigInteger), nullable=False))
    request_id: str | None = Field(default=None, sa_column=Column(String(64)))
