"""Infrastructure tables every service database has (copied into each service's metadata)."""

from __future__ import annotations

from sqlalchemy import (BigInteger, CheckConstraint, Column, DateTime, Identity, Index, Integer, MetaData, SmallInteger,
                        String, Table, Text, func)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("diff", JSONB, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# A write appends here, in its own transaction and without a lock; the sealer (shared.audit.seal) moves committed
# rows into audit_log in commit order, linking each to the one before, so writers never wait on one another.
audit_pending = Table(
    "audit_pending", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("diff", JSONB, nullable=False),
)

# One row (id=1): the chain's last seq and hash, locked by the sealer so the chain stays linear.
audit_head = Table(
    "audit_head", metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("destinations", ARRAY(Text), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
)

Index("ix_outbox_unsent", outbox.c.id, postgresql_where=outbox.c.sent_at.is_(None))

processed_events = Table(
    "processed_events", metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Events a consumer kept failing on (shared.worker.dispatch), kept for an officer to see and replay
# (shared.dead_letters). ``event`` is the envelope as it arrived; one row per event, updated if it fails again.
dead_letters = Table(
    "dead_letters", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("event", JSONB, nullable=False),
    Column("error", Text, nullable=False),
    Column("tries", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="dead"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("replays", Integer, nullable=False, server_default="0"),
    Column("replayed_at", DateTime(timezone=True)),
    Column("replayed_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('dead', 'replaying', 'resolved')", name="status"),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("owner", Text, primary_key=True),          # principal subject: keys are per caller
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

GENESIS = "0" * 64


def include_in(target: MetaData) -> None:
    """Copy the infrastructure tables into a service's metadata (for migrations)."""
    for table in metadata.tables.values():
        if table.name not in target.tables:
            table.to_metadata(target)
