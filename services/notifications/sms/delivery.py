"""Sending queued SMS to the provider at ``JINGZHUN_SMS_URL``, with retries and backoff.

Each message is ``POST``ed as JSON ``{"id", "phone", "text"}`` with the header ``Idempotency-Key: <id>``;
every retry of a message sends the same id and key, so a provider that saw an attempt whose answer we
lost (a timeout) can recognise the repeat. A 2xx answer means ``sent``; any other answer, a timeout or a
connection error is retried after the policy's next delay (``Retry-After`` lengthens it), and after the
last attempt the message is ``failed``.

One run at a time, whatever the number of workers: a run holds the ``SMS_DELIVERY`` advisory lock (see
``services.notifications.locks``) and a run that finds it taken returns at once. The run keeps up to
``concurrency`` lanes (a lane that claims a message starts the next; a lane with nothing due keeps looking while
another is sending, so a hanging call delays only its own message); each lane claims one due message (``FOR
UPDATE SKIP LOCKED``), leases it for a single attempt (``attempts`` + 1, ``next_attempt_at`` pushed past the
HTTP timeout) in a short transaction, posts it at once, and records the outcome in its own transaction, only if
it still holds the lease. So no more than ``concurrency`` requests are open at the provider, nothing is claimed
before it can be sent, and a worker that dies mid-send leaves at most ``concurrency`` messages whose outcome is
unknown: their leases expire and they are tried again (same id and key), and only they. In quiet hours
(``quiet``) only urgent kinds are claimed, and a retry that would fall in them waits for their end.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.notifications import locks
from services.notifications.sms import metrics, repository
from services.notifications.sms.quiet import QuietHours
from shared import audit, pii
from shared.settings import Settings

log = logging.getLogger("jingzhun.notifications.sms")
ACTOR = "system:sms-delivery"
IDLE_POLL = 0.05       # seconds: how often a lane with nothing to do looks again while another is sending
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """``delays[n-1]`` seconds after a failed attempt ``n``; ``len(delays) + 1`` attempts in all."""

    delays: tuple[float, ...] = (10, 30, 120, 600, 1800, 3600, 7200)
    timeout: float = 10.0          # one HTTP attempt, all of it (connect, send, wait, read)
    jitter: float = 0.1            # ± this fraction of each delay, so retries of a burst spread out
    concurrency: int = 10          # posts in flight at once (and messages claimed at once)
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


async def deliver_due(*, sessionmaker: async_sessionmaker, settings: Settings, client: httpx.AsyncClient,
                      policy: RetryPolicy = DEFAULT_POLICY, clock: Clock | None = None) -> Report:
    """Send every message that is due now (bounded by ``policy.budget``); nothing without an SMS URL, and
    nothing (``skipped``) while another run holds the delivery lock. In quiet hours only urgent kinds go."""
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
        cipher = pii.cipher(settings)
        deadline = time.monotonic() + policy.budget

        async def attempt(row) -> Outcome:
            try:
                phone = cipher.decrypt(row.phone_enc, field="phone")
            except (pii.DecryptionError, TypeError):
                return Outcome(False, "the phone number cannot be decrypted with this deployment's key",
                               permanent=True)
            try:
                return await post(client, url, message_id=str(row.id), phone=phone, text=row.text,
                                  timeout=policy.timeout)
            except Exception as exc:   # noqa: BLE001 — recorded as this attempt's error, retried
                return Outcome(False, f"{type(exc).__name__}: {exc}"[:300])

        async def claim():
            now = clock()
            async with sessionmaker() as session:
                claimed, abandoned = await repository.claim_due(
                    session, limit=1, lease_seconds=policy.lease, max_attempts=policy.max_attempts, now=now,
                    only_kinds=sorted(quiet.urgent) if quiet.quiet(now) else None, lock=lock)
                for row in abandoned:
                    await audit.record(session, actor=ACTOR, action="sms.failed", entity="sms_message",
                                       entity_id=row.id, diff={"attempt": row.attempts,
                                                               "error": "no outcome recorded"})
                await metrics.add(session, {"failed": len(abandoned)})
                await session.commit()
            report.failed += len(abandoned)
            return claimed, abandoned

        sending = running = 0

        async def lane() -> None:
            """Claim one message, send it, record it; again until nothing is due or the budget is spent.

            A lane that claims a message starts another (up to ``concurrency``) for whatever else is due. A lane
            with nothing to do keeps looking while another lane is still sending (a provider call may hang until
            its timeout) and takes what falls due meanwhile: a hanging call holds up its own message only."""
            nonlocal sending, running
            try:
                while time.monotonic() < deadline:
                    claimed, abandoned = await claim()
                    if claimed:
                        (row,) = claimed
                        sending += 1
                        if running < policy.concurrency:
                            running += 1
                            lanes.create_task(lane())
                        try:
                            outcome = await attempt(row)
                            async with sessionmaker() as session:
                                await _settle(session, row, outcome, policy, report, quiet, clock)
                                await session.commit()
                        finally:
                            sending -= 1
                    elif not abandoned:
                        if not sending:
                            return
                        await asyncio.sleep(IDLE_POLL)
            finally:
                running -= 1

        async with asyncio.TaskGroup() as lanes:     # a lane that fails stops the others before the lock goes
            running = 1
            lanes.create_task(lane())
    return report


async def _settle(session, row, outcome: Outcome, policy: RetryPolicy, report: Report, quiet: QuietHours,
                  clock: Clock) -> None:
    next_at = None
    if outcome.ok:
        status, retry_in, action = "sent", None, "sms.sent"
    elif outcome.permanent or row.attempts >= policy.max_attempts:
        status, retry_in, action = "failed", None, "sms.failed"
    else:
        status, retry_in, action = "queued", policy.delay_after(row.attempts, outcome.retry_after), "sms.retry"
        next_at = quiet.send_at(clock() + timedelta(seconds=retry_in), row.kind)
    latency = await repository.settle(session, message_id=row.id, attempt=row.attempts, status=status,
                                      error=outcome.error, next_at=next_at)
    if latency is None:
        report.lost_lease += 1
        log.warning("SMS %s: attempt %d finished after its lease passed to another run; outcome not recorded",
                    row.id, row.attempts)
        return
    diff = {"attempt": row.attempts, "status": status}
    if outcome.error:
        diff["error"] = outcome.error
    if retry_in is not None:
        diff["retry_in_seconds"] = round(retry_in, 3)
    await audit.record(session, actor=ACTOR, action=action, entity="sms_message", entity_id=row.id, diff=diff)
    if status == "sent":
        await metrics.add(session, {"sent": 1, **metrics.latency([latency])})
        report.sent += 1
        log.info("SMS %s sent (attempt %d)", row.id, row.attempts)
    elif status == "failed":
        await metrics.add(session, {"failed": 1})
        report.failed += 1
        report.errors.append(outcome.error or "")
        log.error("SMS %s failed for good after attempt %d: %s", row.id, row.attempts, outcome.error)
    else:
        await metrics.add(session, {"retries": 1})
        report.retried += 1
        log.warning("SMS %s attempt %d failed (%s); retrying in %.1fs", row.id, row.attempts, outcome.error,
                    retry_in)
