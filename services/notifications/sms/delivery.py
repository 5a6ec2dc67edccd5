"""Sending queued SMS to the provider at ``JINGZHUN_SMS_URL``, with retries and backoff.

Each message is ``POST``ed as JSON ``{"id", "phone", "text"}`` with the header ``Idempotency-Key: <id>``;
every retry of a message sends the same id and key, so a provider that saw an attempt whose answer we
lost (a timeout) can recognise the repeat. A 2xx answer means ``sent``; any other answer, a timeout or a
connection error is retried after the policy's next delay (``Retry-After`` lengthens it), and after the
last attempt the message is ``failed``.

One run at a time, whatever the number of workers: a run holds the ``SMS_DELIVERY`` advisory lock (see
``services.notifications.locks``) and a run that finds it taken returns at once. The run claims due messages a
batch at a time (``FOR UPDATE SKIP LOCKED``, up to ``batch`` per transaction), leasing each for a single attempt
(``attempts`` + 1, ``next_attempt_at`` pushed past the HTTP timeout), and posts each at once in a task of its
own. A settler records the outcomes that have arrived, together (one transaction, one ``UPDATE … FROM unnest``),
each only if its lease still holds. A message's slot is freed when it is settled and the run claims again as
slots free up (or every ``IDLE_POLL`` while some are still out), so a hanging call delays only its own message.
No more than ``concurrency`` messages are claimed and unsettled at once: that many requests open at the provider
at most, nothing claimed before it can be sent, and a worker that dies mid-send leaves at most ``concurrency``
messages whose outcome is unknown: their leases expire and they are tried again (same id and key), and only they.
In quiet hours (``quiet``) only urgent kinds are claimed, and a retry that would fall in them waits for their end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.notifications import locks
from services.notifications.sms import metrics, repository
from services.notifications.sms.quiet import QuietHours
from shared import pii
from shared.settings import Settings
from shared.upstream import UpstreamTransport

log = logging.getLogger("jingzhun.notifications.sms")
ACTOR = "system:sms-delivery"
IDLE_POLL = 0.05       # seconds: how often a run with messages out looks for newly due ones
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """``delays[n-1]`` seconds after a failed attempt ``n``; ``len(delays) + 1`` attempts in all."""

    delays: tuple[float, ...] = (10, 30, 120, 600, 1800, 3600, 7200)
    timeout: float = 10.0          # one HTTP attempt, all of it (connect, send, wait, read)
    jitter: float = 0.1            # ± this fraction of each delay, so retries of a burst spread out
    concurrency: int = 50          # messages claimed and not yet settled (so posts in flight) at once
    batch: int = 25                # messages claimed per transaction at most
    budget: float = 45.0           # seconds one run keeps claiming messages (a cron run every few seconds)
    max_retry_after: float = 3600

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    @property
    def lease(self) -> float:
        """From a claim to its outcome being recorded: the post starts at once and lasts ``timeout`` at most."""
        return self.timeout + 30

    def delay_after(self, attempt: int, retry_after: float | None = None) -> float:
        delay = self.delays[min(attempt, len(self.delays)) - 1]
        if self.jitter:
            delay *= 1 + random.uniform(-self.jitter, self.jitter)
        if retry_after:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


DEFAULT_POLICY = RetryPolicy()


@dataclass
class Outcome:
    ok: bool
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


@dataclass
class Report:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_lease: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: bool = False          # another run holds the delivery lock; this one did nothing

    @property
    def attempts(self) -> int:
        return self.sent + self.retried + self.failed


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


async def post(client: httpx.AsyncClient, url: str, *, message_id: str, phone: str, text: str,
               timeout: float) -> Outcome:
    """One attempt at the provider, over in ``timeout`` seconds whatever the provider does."""
    try:
        async with asyncio.timeout(timeout):
            resp = await client.post(url, json={"id": message_id, "phone": phone, "text": text},
                                     headers={"Idempotency-Key": message_id}, timeout=httpx.Timeout(timeout),
                                     follow_redirects=False)
    except (httpx.TimeoutException, TimeoutError):
        return Outcome(False, f"timeout after {timeout:g}s")
    except httpx.HTTPError as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}"[:300])
    if 200 <= resp.status_code < 300:
        return Outcome(True)
    body = resp.text[:200].strip() if resp.content else ""
    return Outcome(False, f"HTTP {resp.status_code}" + (f": {body}" if body else ""),
                   retry_after=_retry_after(resp.headers.get("retry-after")))


async def deliver_due(*, sessionmaker: async_sessionmaker, settings: Settings,
                      client: httpx.AsyncClient | None = None, policy: RetryPolicy = DEFAULT_POLICY,
                      clock: Clock | None = None) -> Report:
    """Send every message that is due now (bounded by ``policy.budget``); nothing without an SMS URL, and
    nothing (``skipped``) while another run holds the delivery lock. In quiet hours only urgent kinds go.
    Posts go through ``client`` if given, else through a keep-alive pool of the run's own."""
    report = Report()
    url = settings.sms_url
    if not url:
        return report
    clock = clock or _utcnow
    quiet = QuietHours.parse(settings.quiet_hours)
    async with locks.exclusive(settings, locks.SMS_DELIVERY) as lock:
        if lock is None:
            report.skipped = True
            return report
        if client is not None:
            return await _run(sessionmaker, settings, client, lock, policy, clock, quiet, report)
        # httpcore's pool looks at each of its connections on every request: the gateway's pool does not
        async with httpx.AsyncClient(transport=UpstreamTransport(), trust_env=False) as own:
            return await _run(sessionmaker, settings, own, lock, policy, clock, quiet, report)


async def _run(sessionmaker: async_sessionmaker, settings: Settings, client: httpx.AsyncClient, lock: locks.RunLock,
               policy: RetryPolicy, clock: Clock, quiet: QuietHours, report: Report) -> Report:
    url = settings.sms_url
    cipher = pii.cipher(settings)
    deadline = time.monotonic() + policy.budget
    outcomes: asyncio.Queue = asyncio.Queue()
    settled = asyncio.Event()
    unsettled = 0                  # claimed and not yet settled: never more than ``policy.concurrency``

    async def send(row) -> None:
        try:
            phone = cipher.decrypt(row.phone_enc, field="phone")
        except (pii.DecryptionError, TypeError):
            outcome = Outcome(False, "the phone number cannot be decrypted with this deployment's key",
                              permanent=True)
        else:
            try:
                outcome = await post(client, url, message_id=str(row.id), phone=phone, text=row.text,
                                     timeout=policy.timeout)
            except Exception as exc:   # noqa: BLE001 — recorded as this attempt's error, retried
                outcome = Outcome(False, f"{type(exc).__name__}: {exc}"[:300])
        outcomes.put_nowait((row, outcome))

    async def settler() -> None:
        """Settles whatever outcomes have arrived, together, until told to stop (``None``)."""
        nonlocal unsettled
        done = False
        while not done:
            batch = [await outcomes.get()]
            while not outcomes.empty() and len(batch) < policy.concurrency:
                batch.append(outcomes.get_nowait())
            if batch[-1] is None:
                done, batch = True, batch[:-1]
            if batch:
                async with sessionmaker() as session:
                    await _settle(session, batch, policy, report, quiet, clock)
                    await session.commit()
                unsettled -= len(batch)
                settled.set()

    async def claim(n: int):
        now = clock()
        async with sessionmaker() as session:
            claimed, abandoned = await repository.claim_due(
                session, limit=n, lease_seconds=policy.lease, max_attempts=policy.max_attempts, now=now,
                only_kinds=sorted(quiet.urgent) if quiet.quiet(now) else None, lock=lock)
            await repository.audit_all(session, [
                (ACTOR, "sms.failed", row.id, {"attempt": row.attempts, "error": "no outcome recorded"})
                for row in abandoned])
            await metrics.add(session, {"failed": len(abandoned)})
            await session.commit()
        report.failed += len(abandoned)
        return claimed, abandoned

    async with asyncio.TaskGroup() as tasks:     # a failing settle stops the run before the lock goes
        settling = tasks.create_task(settler())
        sending: set[asyncio.Task] = set()
        while True:
            settled.clear()
            want = min(policy.concurrency - unsettled, policy.batch)
            if want > 0 and time.monotonic() < deadline:
                claimed, abandoned = await claim(want)
                for row in claimed:
                    unsettled += 1
                    sending.add(task := tasks.create_task(send(row)))
                    task.add_done_callback(sending.discard)
                if len(claimed) + len(abandoned) == want:
                    continue                              # perhaps more is due: claim again at once
                if not unsettled:
                    break                                 # nothing due, nothing in flight
            elif not unsettled:
                break                                     # the budget is spent and everything settled
            # a hanging call holds its own slot only: look again when something settles, or soon
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), IDLE_POLL)
        await asyncio.gather(*sending)
        outcomes.put_nowait(None)
        await settling
    return report


async def _settle(session, batch: list[tuple[Any, Outcome]], policy: RetryPolicy, report: Report,
                  quiet: QuietHours, clock: Clock) -> None:
    """Record a batch of outcomes in the caller's transaction: one ``UPDATE`` for them all, then their audit
    rows and counters. An outcome whose lease passed to a later attempt is not recorded."""
    plans = []
    for row, outcome in batch:
        next_at = retry_in = None
        if outcome.ok:
            status, action = "sent", "sms.sent"
        elif outcome.permanent or row.attempts >= policy.max_attempts:
            status, action = "failed", "sms.failed"
        else:
            status, action = "queued", "sms.retry"
            retry_in = policy.delay_after(row.attempts, outcome.retry_after)
            next_at = quiet.send_at(clock() + timedelta(seconds=retry_in), row.kind)
        plans.append((row, outcome, status, action, retry_in, next_at))
    latencies = await repository.settle_many(session, [
        (row.id, row.attempts, status, outcome.error, next_at) for row, outcome, status, _, _, next_at in plans])
    entries, sent_latency = [], []
    counts = {"sent": 0, "failed": 0, "retries": 0}
    for row, outcome, status, action, retry_in, _ in plans:
        if row.id not in latencies:
            report.lost_lease += 1
            log.warning("SMS %s: attempt %d finished after its lease passed to another run; outcome not recorded",
                        row.id, row.attempts)
            continue
        diff: dict[str, Any] = {"attempt": row.attempts, "status": status}
        if outcome.error:
            diff["error"] = outcome.error
        if retry_in is not None:
            diff["retry_in_seconds"] = round(retry_in, 3)
        entries.append((ACTOR, action, row.id, diff))
        if status == "sent":
            sent_latency.append(latencies[row.id])
            counts["sent"] += 1
            report.sent += 1
            log.info("SMS %s sent (attempt %d)", row.id, row.attempts)
        elif status == "failed":
            counts["failed"] += 1
            report.failed += 1
            report.errors.append(outcome.error or "")
            log.error("SMS %s failed for good after attempt %d: %s", row.id, row.attempts, outcome.error)
        else:
            counts["retries"] += 1
            report.retried += 1
            log.warning("SMS %s attempt %d failed (%s); retrying in %.1fs", row.id, row.attempts, outcome.error,
                        retry_in)
    await repository.audit_all(session, entries)
    await metrics.add(session, counts | metrics.latency(sent_latency))
