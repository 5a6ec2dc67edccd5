"""SMS counters for Prometheus, kept in the database so that every process sees the same figures.

Messages change state in the workers (any number of processes) and ``/metrics`` is served by the API
(any number of uvicorn workers): per-process counters would each show a fraction, and the API's would
show nothing. So each state change adds to ``sms_counter`` in its own transaction (counted exactly once,
rolled back with it), and a scrape sums the table (:func:`source`: a few hundred rows at most). A counter is
spread over ``SHARDS`` rows and each transaction adds once, at its commit, to one of them at random: a row stays
locked until its transaction commits, so with one row per counter, written early, every event and every delivery
would commit one after another.

Exposed: ``jingzhun_sms_queued_total``, ``jingzhun_sms_sent_total``, ``jingzhun_sms_failed_total``,
``jingzhun_sms_retries_total`` and the histogram ``jingzhun_sms_delivery_seconds`` (queued → sent).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.sms.models import SmsCounter

table = SmsCounter.__table__
BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600)   # seconds; quiet hours last 10 h
COUNTERS = {"queued": "SMS stored to be sent", "sent": "SMS accepted by the provider",
            "failed": "SMS given up on (no mobile number, or every attempt failed)",
            "retries": "failed attempts that were scheduled again"}


def latency(seconds: Iterable[float]) -> dict[str, float]:
    """The histogram additions for these queued → sent latencies (cumulative buckets, as Prometheus has them)."""
    deltas: dict[str, float] = {}
    for s in seconds:
        for le in BUCKETS:
            if s <= le:
                deltas[f"latency_le_{le}"] = deltas.get(f"latency_le_{le}", 0) + 1
        deltas["latency_count"] = deltas.get("latency_count", 0) + 1
        deltas["latency_sum"] = deltas.get("latency_sum", 0) + max(s, 0.0)
    return deltas


SHARDS = 16
_DELTAS = "jingzhun.sms.counter_deltas"


async def add(session: AsyncSession, deltas: Mapping[str, float]) -> None:
    """Add to the counters in the caller's transaction. The additions are summed and written once, just before
    the commit, to one shard picked at random, its rows in name order: a transaction holds a counter row only
    for its commit, and no two writers deadlock."""
    pending = session.sync_session.info.setdefault(_DELTAS, {})
    for k, v in deltas.items():
        if v:
            pending[k] = pending.get(k, 0) + float(v)


_UPSERT = pg_insert(table)     # one statement for any number of counters (executemany), compiled once
_UPSERT = _UPSERT.on_conflict_do_update(index_elements=["name", "shard"],
                                        set_={"value": table.c.value + _UPSERT.excluded.value})


@event.listens_for(Session, "before_commit")
def _write(sync_session: Session) -> None:
    pending = sync_session.info.pop(_DELTAS, None)
    if not pending:
        return
    shard = random.randrange(SHARDS)
    sync_session.execute(_UPSERT, [{"name": k, "shard": shard, "value": v} for k, v in sorted(pending.items())])


@event.listens_for(Session, "after_rollback")
def _forget(sync_session: Session) -> None:
    sync_session.info.pop(_DELTAS, None)


async def read(session: AsyncSession) -> dict[str, float]:
    return {r.name: r.value for r in (await session.execute(text(
        "SELECT name, sum(value) AS value FROM sms_counter GROUP BY name"))).all()}


async def source(app: Any) -> list[Metric]:
    """The counters as metric families, read at each scrape (a ``shared.observability`` source)."""
    async with app.state.db.sessionmaker() as session:
        return list(families(await read(session)))


def families(v: Mapping[str, float]) -> Iterator[Metric]:
    for name, doc in COUNTERS.items():
        yield CounterMetricFamily(f"jingzhun_sms_{name}", doc, value=v.get(name, 0.0))
    buckets = [(str(float(le)), v.get(f"latency_le_{le}", 0.0)) for le in BUCKETS]
    buckets.append(("+Inf", v.get("latency_count", 0.0)))
    yield HistogramMetricFamily("jingzhun_sms_delivery_seconds", "from queued to accepted by the provider",
                                buckets=buckets, sum_value=v.get("latency_sum", 0.0))
