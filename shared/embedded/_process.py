"""Child processes for the embedded servers and ``up``: own session, parent-death signal; the sockets' folder."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("jingzhun.embedded")

SOCKET_PATH_MAX = 100          # sun_path holds 108 bytes on Linux (104 on macOS), NUL included
PG_SOCKET_NAME = ".s.PGSQL.5432"
REDIS_SOCKET_NAME = "redis.sock"

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


def stop_process(proc: subprocess.Popen | None, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
    """Send ``sig`` to the child's whole process group, wait ``timeout``, then SIGKILL. Returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        _signal_group(proc, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %s did not stop within %.0f s; killing it", proc.pid, timeout)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
    # grandchildren that outlived their parent (uvicorn workers, postgres backends)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.returncode


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
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


def tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""

