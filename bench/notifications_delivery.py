"""``payment.paid`` events → SMS accepted by a provider, end to end: the project's worker settings beside arq's
defaults (``max_jobs``, ``poll_delay``), on real PostgreSQL and Redis.

    uv run python bench/notifications_delivery.py [--events 50000] [--timeout 900]

The events are put on the notifications queue as the outbox relay puts them; one notifications worker (the
one ``jingzhun up`` runs, in a child process) consumes them, queues the SMS and delivers them on its cron to
a stand-in provider (a tiny HTTP/1.1 server in another child process that answers 200 at once). The clock
runs from the first event queued to the last SMS ``sent``. Prints both runs and the ratio, and writes them
into bench/RESULTS.md (section ``notifications_delivery``).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from arq.worker import Worker  # noqa: E402

from bench._harness import ROOT, BenchEnv, env_for, machine, write_section  # noqa: E402
from services.notifications.sms.delivery import DEFAULT_POLICY  # noqa: E402
from shared import queue  # noqa: E402
from shared.db import asyncpg_dsn, database_name  # noqa: E402
from shared.outbox import JOB_EVENTS  # noqa: E402
from shared.testing import free_port  # noqa: E402

ARQ_DEFAULTS = {k: inspect.signature(Worker).parameters[k].default for k in ("max_jobs", "poll_delay")}


def provider(port: int) -> None:
    """The stand-in SMS gateway: keep-alive HTTP/1.1, 200 ``{}`` to every request, nothing else."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def worker(overrides: str) -> None:
    """The notifications worker as ``jingzhun up`` runs it, with ``overrides`` (JSON) of its arq settings."""
    from services.notifications import worker as notifications_worker
    from shared.settings import Settings
    kwargs = notifications_worker.settings(Settings()) | json.loads(overrides)
    queue.run_worker(kwargs)


def paid(n: int) -> dict:
    return {"event_id": str(uuid.uuid4()), "topic": "payment.paid", "source": "funds",
            "occurred_at": "2026-06-01T02:00:00+00:00",
            "payload": {"disbursement_id": 1, "household_id": n + 1, "head_phone": f"139{n:08d}",
                        "amount": "3000.00", "purpose": "industry", "purpose_label": "产业发展", "account_tail": "1234",
                        "paid_at": "2026-06-01T02:00:00+00:00", "region_code": "640122100001"}}


async def run(settings, sms_url: str, events: int, overrides: dict, timeout: float) -> dict:
    dsn = asyncpg_dsn(settings, database_name(settings, "notifications"))
    conn = await asyncpg.connect(dsn)
    await conn.execute("TRUNCATE sms_message, sms_counter, audit_log, audit_pending, audit_head, processed_events")
    env = env_for(settings, sms_url=sms_url) | {"JINGZHUN_QUIET_HOURS": ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.notifications_delivery "
        f"import worker; worker({json.dumps(json.dumps(overrides))})", cwd=ROOT, env=env)
    pool = await queue.connect(settings)
    try:
        await asyncio.sleep(3)                         # the worker is up and idle
        name = queue.queue_name(settings, "notifications")
        start = time.monotonic()
        run = JOB_EVENTS                               # as the relay sends them: runs of events per job
        for first in range(0, events, 1000):
            batch = [paid(i) for i in range(first, min(first + 1000, events))]
            await asyncio.gather(*(queue.enqueue(pool, queue=name, function=queue.EVENTS_JOB,
                                                 args=(batch[i:i + run],), job_id=f"events:{uuid.uuid4()}")
                                   for i in range(0, len(batch), run)))
        enqueued = time.monotonic() - start
        handled_at = None
        while True:
            queued, sent = await conn.fetchrow("SELECT count(*), count(*) FILTER (WHERE status = 'sent') "
                                               "FROM sms_message")
            now = time.monotonic()
            if handled_at is None and queued == events:
                handled_at = now - start
            if sent == events:
                break
            if now - start > timeout:
                raise RuntimeError(f"{sent}/{events} sent after {timeout}s ({queued} queued; "
                                   f"{await conn.fetchval('SELECT count(*) FROM processed_events')} events consumed)")
            await asyncio.sleep(0.2)
        total = time.monotonic() - start
        return {"enqueued_s": enqueued, "handled_s": handled_at, "total_s": total, "rate": events / total}
    finally:
        await pool.aclose()
        await conn.close()
        proc.terminate()
        await proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    port = free_port()
    gateway = multiprocessing.Process(target=provider, args=(port,), daemon=True)
    gateway.start()
    bench = BenchEnv(["notifications"])
    project = {k: v for k, v in queue.worker_settings(bench.settings, "notifications", functions=[]).items()
               if k in ARQ_DEFAULTS}
    results = {}
    try:
        for label, overrides in (("project settings", {}), ("arq defaults", dict(ARQ_DEFAULTS))):
            results[label] = asyncio.run(run(bench.settings, f"http://127.0.0.1:{port}/sms", args.events, overrides,
                                             args.timeout))
            r = results[label]
            print(f"{label}: {args.events} events → SMS sent in {r['total_s']:.1f}s = {r['rate']:,.0f}/s "
                  f"(queued in {r['enqueued_s']:.1f}s, all handled at {r['handled_s']:.1f}s)", flush=True)
    finally:
        bench.close()
        gateway.terminate()
    ratio = results["project settings"]["rate"] / results["arq defaults"]["rate"]
    print(f"ratio project/arq defaults: {ratio:.2f}")
    argv = " ".join(sys.argv[1:])
    knobs = {"project settings": project, "arq defaults": ARQ_DEFAULTS}
    rows = [f"| {label} ({', '.join(f'{k}={v}' for k, v in knobs[label].items())})"
            f" | {r['handled_s']:.1f} | {r['total_s']:.1f} | {r['rate']:,.0f} |" for label, r in results.items()]
    write_section("notifications_delivery", "\n".join([
        "## Notifications: payment.paid events → SMS at the provider, end to end",
        "",
        f"Command: `uv run python bench/notifications_delivery.py{' ' + argv if argv else ''}` ({machine()}; load "
        f"average {load0:.1f} at start; one notifications worker process; PostgreSQL, Redis and the stand-in "
        "provider on the same machine)",
        "",
        f"{args.events:,} events put on the queue as the relay does; the clock runs from the first to the last SMS "
        "`sent`. Each SMS is one POST (the contract's `{id, phone, text}`), "
        f"{DEFAULT_POLICY.concurrency} in flight at most, claimed up to {DEFAULT_POLICY.batch} per transaction.",
        "",
        "| worker | all events handled, s | all SMS sent, s | SMS/s end to end |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Ratio (project ÷ arq defaults): {ratio:.2f}.",
    ]))


if __name__ == "__main__":
    main()
