"""Quiet hours (``JINGZHUN_QUIET_HOURS``, Beijing time): no SMS goes out inside the window, except urgent kinds.

The window is ``[start, end)``: with ``22:00-08:00`` a message due at 21:59 goes, one due at 22:00 waits until
08:00, one due at 07:59 waits until 08:00, one due at 08:00 goes. A window may wrap midnight or not
(``12:00-14:00``). China keeps no daylight saving time, so Beijing time is UTC+8 all year.

Urgent kinds go out at night too. None of today's SMS kinds is urgent: a payment notice, an objection's
result or a loan reminder can all wait until the morning; a kind that cannot (a 突发严重困难 alert, say) is
added to ``URGENT_KINDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "CST")
URGENT_KINDS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class QuietHours:
    start: time | None = None
    end: time | None = None
    urgent: frozenset[str] = URGENT_KINDS

    @classmethod
    def parse(cls, spec: str | None, urgent: frozenset[str] = URGENT_KINDS) -> QuietHours:
        """``"22:00-08:00"``; empty or None: no quiet hours (``shared.settings`` checked the form)."""
        if not spec or not spec.strip():
            return cls(urgent=urgent)
        first, last = spec.strip().split("-")
        return cls(time.fromisoformat(first), time.fromisoformat(last), urgent)

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}" if self.start is not None else ""

    def release_at(self, at: datetime) -> datetime | None:
        """When the quiet period that ``at`` falls in ends (an aware UTC time); None outside quiet hours."""
        if self.start is None or self.end is None:
            return None
        local = at.astimezone(BEIJING)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= now < self.end
        else:
            quiet = now >= self.start or now < self.end
        if not quiet:
            return None
        day = local.date() if now < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, BEIJING).astimezone(UTC)

    def quiet(self, at: datetime) -> bool:
        return self.release_at(at) is not None

    def send_at(self, at: datetime, kind: str) -> datetime:
        """The earliest time a message of ``kind`` due at ``at`` may go out."""
        if kind in self.urgent:
            return at
        return self.release_at(at) or at
