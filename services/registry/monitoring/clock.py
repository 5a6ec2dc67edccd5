"""The monitoring clock (tests and the demo's past move it): overdue reports and the times reports, warnings' and
cases' decisions and steps are recorded at."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
