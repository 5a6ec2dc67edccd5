"""The monitoring clock (tests move it): overdue reports and the times decisions are recorded at."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
