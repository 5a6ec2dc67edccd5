"""What ``/metrics`` shows beyond HTTP, read at scrape time (``shared.observability.Metrics`` sources).

Each source is one small read: an indexed query or one Redis round trip, so a scrape stays a few milliseconds.

- ``jingzhun_outbox_unsent`` / ``jingzhun_outbox_oldest_unsent_seconds``: events written and not yet relayed to the
  queue (the outbox's partial index on unsent rows; counted up to :data:`COUNT_CAP`).
- ``jingzhun_audit_pending`` / ``jingzhun_audit_oldest_pending_seconds``: audit rows waiting to be chained.
- ``jingzhun_queue_jobs`` / ``jingzhun_queue_ready_jobs``: the service's arq queue (all jobs; those due now).
- ``jingzhun_jobs_run_total`` / ``_failed_total`` / ``_retried_total`` by ``function``: counted by the workers
  (``shared.queue``) in a Redis hash per service, read here; with the service's own counters beside them
  (the registry's ``jingzhun_import_rows_total`` and ``jingzhun_import_seconds_total``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from shared import queue
from shared.observability import Metrics

COUNT_CAP = 100_000       # a backlog is counted up to this (an index scan of at most this many entries)

_OUTBOX = f"""SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE sent_at IS NULL LIMIT {COUNT_CAP}) AS u),
    (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1), now()"""
_AUDIT = f"""SELECT (SELECT count(*) FROM (SELECT 1 FROM audit_pending LIMIT {COUNT_CAP}) AS p),
    (SELECT at FROM audit_pending ORDER BY id LIMIT 1), now()"""
JOB_COUNTERS = {"run": "job runs that ended (any outcome)",
                "failed": "job runs that failed (raised, timed out, or kept their event as a dead letter)",
                "retried": "job runs that asked to run again later"}


def _age(oldest: datetime | None, now: datetime) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


async def _row(app: Any, statement: str) -> Any:
    async with app.state.db.engine.connect() as conn:         # the app's own pool: no connection of its own
        return (await conn.exec_driver_sql(statement)).one()


def _gauge(name: str, doc: str, service: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["service"])
    family.add_metric([service], value)
    return family


def outbox_source(service: str):
    async def outbox_backlog(app: Any) -> list[Metric]:
        count, oldest, now = await _row(app, _OUTBOX)
        return [_gauge("jingzhun_outbox_unsent", f"outbox events not yet relayed (counted up to {COUNT_CAP})",
                       service, count),
                _gauge("jingzhun_outbox_oldest_unsent_seconds", "age of the oldest unrelayed outbox event (0: none)",
                       service, _age(oldest, now))]
    return outbox_backlog


def audit_source(service: str):
    async def audit_chain(app: Any) -> list[Metric]:
        count, oldest, now = await _row(app, _AUDIT)
        return [_gauge("jingzhun_audit_pending", f"audit rows waiting to be chained (counted up to {COUNT_CAP})",
                       service, count),
                _gauge("jingzhun_audit_oldest_pending_seconds", "age of the oldest unchained audit row (0: none)",
                       service, _age(oldest, now))]
    return audit_chain


def worker_source(service: str, counters: Mapping[str, str]):
    """The queue's depth and the counters the workers keep (``counters``: this service's own, name → help)."""

    async def worker(app: Any) -> list[Metric]:
        settings = app.state.settings
        name = queue.queue_name(settings, service)
        async with app.state.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(name)
            pipe.zcount(name, "-inf", int(time.time() * 1000))
            pipe.hgetall(queue.counters_key(settings, service))
            depth, ready, raw = await pipe.execute()
        return [_gauge("jingzhun_queue_jobs", "jobs in the service's queue, due or deferred", service, depth),
                _gauge("jingzhun_queue_ready_jobs", "jobs in the service's queue due now", service, ready),
                *counter_families(service, raw, counters)]
    return worker


def counter_families(service: str, raw: Mapping[bytes | str, bytes | str], counters: Mapping[str, str]
                     ) -> Iterable[Metric]:
    values = {_text(k): float(v) for k, v in raw.items()}
    jobs = {kind: CounterMetricFamily(f"jingzhun_jobs_{kind}", doc, labels=["service", "function"])
            for kind, doc in JOB_COUNTERS.items()}
    for field, value in sorted(values.items()):
        kind, _, function = field.partition(":")
        if kind.startswith("job_") and kind[4:] in jobs and function:
            jobs[kind[4:]].add_metric([service, function], value)
    yield from jobs.values()
    for name, doc in counters.items():
        family = CounterMetricFamily(f"jingzhun_{name}", doc, labels=["service"])
        family.add_metric([service], values.get(name, 0.0))
        yield family


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def install(metrics: Metrics, service: str, *, outbox: bool = True, worker: bool = True,
            counters: Mapping[str, str] | None = None) -> None:
    """The standard sources of a service: its audit chain, and (when it has them) its outbox and worker."""
    metrics.add_source("audit", audit_source(service))
    if outbox:
        metrics.add_source("outbox", outbox_source(service))
    if worker:
        metrics.add_source("worker", worker_source(service, counters or {}))

