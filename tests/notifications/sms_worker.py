"""The notifications worker as ``jingzhun up`` runs it (settings from ``JINGZHUN_*``), with the SMS retry
policy given as JSON in ``TEST_SMS_POLICY``: ``python -m tests.notifications.sms_worker``.

A test starts it as a subprocess to kill it (SIGKILL) in the middle of a delivery and start it again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from services.notifications import worker
from services.notifications.sms.delivery import RetryPolicy
from shared.queue import run_worker
from shared.settings import Settings


@dataclass(frozen=True)
class TestPolicy(RetryPolicy):
    """The policy with a lease of the test's choosing, so a killed worker's claims expire within the test."""

    __test__ = False
    lease_seconds: float = 40.0

    @property
    def lease(self) -> float:
        return self.lease_seconds


def main() -> None:
    spec = json.loads(os.environ["TEST_SMS_POLICY"])
    policy = TestPolicy(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    kwargs = worker.settings(Settings())
    startup = kwargs["on_startup"]

    async def on_startup(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ctx["sms_policy"] = policy

    kwargs["on_startup"] = on_startup
    run_worker(kwargs)


if __name__ == "__main__":
    main()
