"""The data dir (``JINGZHUN_DATA_DIR``): one ``jingzhun`` owns it at a time; the running ``up`` leaves its state
there, so other commands (``migrate``, ``create-user``, ``import``) find its database."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from jingzhun.console import CliError
from shared.embedded import EmbeddedPostgres, RunDir
from shared.settings import Settings


class DataDirLock:
    """One ``jingzhun`` owning the data dir at a time (an flock, released by the kernel if we die)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "jingzhun.lock"
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)   # not inherited by children (O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def acquire(self) -> None:
        if not self.try_acquire():
            raise CliError(f"another jingzhun (pid {self.holder()}) is running on data dir {self.path.parent}; "
                           "stop it first or use another JINGZHUN_DATA_DIR")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def state_file(data_dir: Path) -> Path:
    return Path(data_dir) / "run" / "state.json"


def read_state(data_dir: Path) -> dict:
    try:
        return json.loads(state_file(data_dir).read_text())
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database URL: the configured one, the running ``up``'s, or a temporary embedded server."""
    if settings.database_url:
        yield settings
        return
    data_dir = settings.data_dir.resolve()
    lock = DataDirLock(data_dir)
    if not lock.try_acquire():
        url = read_state(data_dir).get("database_url")
        if not url:
            raise CliError(f"data dir {data_dir} is locked by pid {lock.holder()} and no database URL is known; "
                           "set JINGZHUN_DATABASE_URL")
        yield settings.model_copy(update={"database_url": url})
        return
    run_dir = pg = None
    try:
        run_dir = RunDir(data_dir)
        pg = EmbeddedPostgres(data_dir, run_dir.path).start()
        yield settings.model_copy(update={"database_url": pg.url})
    finally:
        if pg is not None:
            pg.stop()
        if run_dir is not None:
            run_dir.cleanup()
        lock.release()
