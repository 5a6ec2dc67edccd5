"""What ``up`` keeps running: Python children (a uvicorn per service, a worker per service) and the embedded
servers, each with a ``proc`` to watch and a ``start()`` that (re)creates it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from shared.embedded import spawn, stop_process

STOP_TIMEOUT = 10.0


class Supervised:
    """Something ``up`` keeps running: a ``proc`` to watch and a ``start()`` that (re)creates it."""

    name: str
    proc: subprocess.Popen | None
    essential: bool = True      # False: the APIs work without it (the queue), so its crashes never stop `up`

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def forget(self) -> None:
        """Drop the exited process (its exit code was read)."""
        raise NotImplementedError


@dataclass
class Child(Supervised):
    """A Python child: a uvicorn for a service, or a worker."""

    name: str
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    essential: bool = True

    def start(self) -> None:
        self.proc = spawn(self.args, env=self.env)

    def stop(self) -> None:   # used for a single child; shutdown stops children together
        stop_process(self.proc, timeout=STOP_TIMEOUT)

    def forget(self) -> None:
        self.proc = None


class Server(Supervised):
    """An embedded PostgreSQL or Redis, restarted by calling its own ``start``."""

    def __init__(self, name: str, server, *, essential: bool = True) -> None:
        self.name, self.server, self.essential = name, server, essential

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.server.proc

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def forget(self) -> None:
        self.server.proc = None


@dataclass
class Health:
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None
