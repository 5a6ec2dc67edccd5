"""``jingzhun up``: the embedded servers, migrations, one uvicorn per service and one arq worker per service, kept
running in the foreground until Ctrl-C / SIGTERM.

Crash policy: before the gateway answers ``/readyz/services`` (every service ready), any child that
exits aborts the start with a message naming it (and exit code 1). After that, a child that exits is restarted
with exponential backoff (1 s, 2 s, 4 s … 30 s); a service or the embedded PostgreSQL that crashes more than
:data:`MAX_CRASHES` times within :data:`CRASH_WINDOW` seconds makes the supervisor stop everything and exit 1,
naming it. The job queue is different (CONTRACT §8: writes never depend on Redis): the embedded Redis and the
workers are restarted every :data:`MAX_BACKOFF` seconds for as long as it takes, while the APIs keep serving, and
the supervisor says loudly that the queue is down (the workers themselves wait for Redis instead of exiting).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from jingzhun import console, demo
from jingzhun.children import STOP_TIMEOUT, Child, Server, Supervised, Health
from jingzhun.console import CliError, announce, say
from jingzhun.datadir import DataDirLock, state_file
from shared.embedded import EmbeddedPostgres, EmbeddedRedis, RunDir, stop_process
from shared.jwt import load_or_create_private_key
from shared.migrations import upgrade
from shared.observability import logging_config, structured
from shared.settings import SERVICES, Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES_DIR = PROJECT_ROOT / "services"
GATEWAY_APP = "services.gateway.app:create"
READY_TIMEOUT = 60.0
MAX_CRASHES = 5
CRASH_WINDOW = 300.0
MAX_BACKOFF = 30.0
DEMO_MARKER = "demo-seeded"
DEMO_PASSWORD_FILE = Path("keys") / "demo-admin-password"


class _Stopping(Exception):
    """SIGINT/SIGTERM arrived while starting."""


def migrate_all(settings: Settings, *, log: Callable[[str], None] = say) -> None:
    for service in SERVICES:
        log(f"migrating {service}")
        upgrade(settings, service)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def _connect_host(host: str) -> str:
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def ready_line(url: str) -> str:
    return (f"Jingzhun is ready at {url} — API {url}/api/v1, API docs {url}/docs, dashboard {url}/dashboard, "
            f"public board (公示) {url}/public")


def services_with_worker() -> list[str]:
    return [s for s in SERVICES if (SERVICES_DIR / s / "worker.py").exists()]


class Supervisor:
    """``jingzhun up``: embedded servers, migrations, one uvicorn per service, one worker per service."""

    def __init__(self, settings: Settings, *, demo: bool = False, verbose: bool = False,
                 gateway_app: str = GATEWAY_APP, ready_timeout: float = READY_TIMEOUT,
                 environ: dict[str, str] | None = None, stdout=None) -> None:
        self.settings = settings
        self.demo = demo
        self.gateway_app = gateway_app
        self.ready_timeout = ready_timeout
        self.environ = dict(os.environ if environ is None else environ)
        # what a person reads: no access-log line per request nor a line per cron tick, unless asked for
        self.verbose = verbose or settings.verbose or "JINGZHUN_LOG_LEVEL" in self.environ
        self.json_lines = structured(settings.log_format, stdout or sys.stdout)
        self.data_dir = settings.data_dir.resolve()
        self.lock = DataDirLock(self.data_dir)
        self.run_dir = None
        self.servers: list[Server] = []        # started first, stopped last
        self.children: list[Child] = []
        self.health: dict[str, Health] = {}
        self.stop_signal: int | None = None
        self.gateway_url = _url(_connect_host(settings.host), settings.port)
        self.public_url = _url(settings.host or "127.0.0.1", settings.port)
        self.generated_admin_password: str | None = None
        self.child_settings = settings          # with the embedded servers' URLs once they run

    # --- signals
    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
            say(f"{signal.Signals(signum).name} received: stopping")

    def _check_stop(self) -> None:
        if self.stop_signal is not None:
            raise _Stopping

    # --- main
    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        console.JSON_LINES = self.json_lines
        try:
            self.start()
            announce(ready_line(self.public_url))
            if self.demo:
                self.seed_demo()
            return self.watch()
        except _Stopping:
            return 0
        except CliError as exc:
            say(f"error: {exc}", level="error")
            return 1
        finally:
            self.shutdown()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        env = dict(self.environ)       # what every child gets; the URLs decided below are added
        env["JINGZHUN_DATA_DIR"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        if not _port_free(self.settings.host, self.settings.port):
            raise CliError(f"{self.settings.host}:{self.settings.port} is already in use; set JINGZHUN_PORT")
        settings = self.child_settings = self._start_servers(env)
        self._check_stop()
        load_or_create_private_key(settings.key_file)
        try:
            migrate_all(settings)
        except Exception as exc:    # noqa: BLE001 - an unreachable database, a broken migration: say which
            raise CliError(f"migrations failed: {type(exc).__name__}: {exc}") from exc
        self._check_stop()
        self._write_state(env)
        self._prepare_demo_admin(env)
        self._plan_children(env)
        for child in self.children:
            child.start()
        self._wait_ready()

    def _start_servers(self, env: dict[str, str]) -> Settings:
        updates = {}
        if not self.settings.database_url or not self.settings.redis_url:
            self.run_dir = RunDir(self.data_dir)
        if not self.settings.database_url:
            say(f"starting embedded PostgreSQL in {self.data_dir / 'postgres'}")
            pg = EmbeddedPostgres(self.data_dir, self.run_dir.path)
            self.servers.append(Server("postgres", pg))
            self._start_server(self.servers[-1])
            env["JINGZHUN_DATABASE_URL"] = updates["database_url"] = pg.url
        if not self.settings.redis_url:
            say(f"starting embedded Redis in {self.data_dir / 'redis'}")
            redis = EmbeddedRedis(self.data_dir, self.run_dir.path)
            self.servers.append(Server("redis", redis, essential=False))
            self._start_server(self.servers[-1])
            env["JINGZHUN_REDIS_URL"] = updates["redis_url"] = redis.url
        return self.settings.model_copy(update=updates)

    def _start_server(self, server: Server) -> None:
        try:
            server.start()
        except RuntimeError as exc:
            raise CliError(f"embedded {server.name} did not start: {exc}") from None

    def _write_state(self, env: dict[str, str]) -> None:
        path = state_file(self.data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": os.getpid(), "database_url": env.get("JINGZHUN_DATABASE_URL"),
                                    "gateway_url": self.gateway_url}))

    def _plan_children(self, env: dict[str, str]) -> None:
        binds: dict[str, tuple[str, int]] = {"gateway": (self.settings.host, self.settings.port)}
        env["JINGZHUN_GATEWAY_URL"] = self.gateway_url
        for service in SERVICES:
            if service == "gateway":
                continue
            explicit = self.environ.get(f"JINGZHUN_{service.upper()}_URL")
            if explicit:      # pinned by the operator: listen where the URL says
                parts = urlsplit(explicit)
                binds[service] = (parts.hostname or "127.0.0.1", parts.port or 80)
                env[f"JINGZHUN_{service.upper()}_URL"] = explicit.rstrip("/")
            else:
                binds[service] = ("127.0.0.1", _free_port())
                env[f"JINGZHUN_{service.upper()}_URL"] = _url(*binds[service])
        level = self.settings.log_level.lower()
        env["JINGZHUN_LOG_FORMAT"] = "json" if self.json_lines else "text"
        env["JINGZHUN_VERBOSE"] = "1" if self.verbose else "0"
        configs = state_file(self.data_dir).parent
        configs.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            app = self.gateway_app if service == "gateway" else f"services.{service}.app:create"
            host, port = binds[service]
            log_config = configs / f"logging-{service}.json"
            log_config.write_text(json.dumps(logging_config(service, level, json_lines=self.json_lines)))
            args = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", host, "--port", str(port),
                    "--log-level", level if self.verbose else "warning", "--log-config", str(log_config),
                    "--timeout-graceful-shutdown", "5"]      # quiet: not uvicorn's four lines per start
            if service != "gateway" or not self.verbose:      # the gateway's is the one access log, when asked
                args.append("--no-access-log")
            if self.settings.workers > 1:
                args += ["--workers", str(self.settings.workers)]
            self.children.append(Child(service, args, env))
        for service in services_with_worker():
            self.children.append(Child(f"{service}-worker", [sys.executable, "-m", "jingzhun", "worker", service],
                                       env, essential=False))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while True:
                self._check_stop()
                for child in [*self.servers, *self.children]:
                    if child.proc is not None and child.proc.poll() is not None:
                        raise CliError(f"{child.name} exited with code {child.proc.returncode} before the gateway "
                                       "was ready (its output is above)")
                try:
                    response = client.get(f"{self.gateway_url}/readyz/services")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    raise CliError(f"the gateway was not ready within {self.ready_timeout:.0f} s "
                                   f"(GET {self.gateway_url}/readyz/services: {last})")
                time.sleep(0.25)

    def watch(self) -> int:
        """Restart what exits, with backoff; give up (exit 1) on an essential child that keeps crashing."""
        while self.stop_signal is None:
            now = time.monotonic()
            for item in [*self.servers, *self.children]:
                health = self.health.setdefault(item.name, Health())
                if item.proc is not None and item.proc.poll() is not None:
                    code = item.proc.returncode
                    item.forget()
                    health.crashes = [t for t in health.crashes if now - t < CRASH_WINDOW] + [now]
                    delay = min(MAX_BACKOFF, 2.0 ** (len(health.crashes) - 1))
                    if len(health.crashes) > MAX_CRASHES:
                        if item.essential:
                            say(f"{item.name} exited {len(health.crashes)} times within {CRASH_WINDOW:.0f} s "
                                f"(last exit code {code}); stopping everything", level="error")
                            return 1
                        delay = MAX_BACKOFF
                    if item.essential:
                        say(f"{item.name} exited with code {code}; restarting it in {delay:.0f} s", level="error")
                    else:
                        self._queue_down(item, f"exited with code {code} ({len(health.crashes)} times within "
                                               f"{CRASH_WINDOW:.0f} s)", delay)
                    health.restart_at = now + delay
                elif item.proc is None and health.restart_at is not None and now >= health.restart_at:
                    health.restart_at = None
                    try:
                        item.start()
                        say(f"{item.name} restarted")
                    except Exception as exc:    # noqa: BLE001 - counted as one more crash
                        health.crashes.append(now)
                        health.restart_at = now + MAX_BACKOFF
                        if item.essential:
                            say(f"{item.name} failed to restart: {exc}")
                        else:
                            self._queue_down(item, f"failed to restart: {exc}", MAX_BACKOFF)
            time.sleep(0.2)
        return 0

    @staticmethod
    def _queue_down(item: Supervised, what: str, delay: float) -> None:
        if isinstance(item, Server):
            say(f"THE JOB QUEUE IS DOWN: {item.name} {what}; restarting it in {delay:.0f} s. The APIs keep serving "
                "(writes do not depend on the queue); events wait in the outboxes and are delivered once it is back.",
                level="error")
        else:
            say(f"A WORKER IS DOWN: {item.name} {what}; restarting it in {delay:.0f} s. The APIs keep serving; "
                "its events and jobs wait in the queue until it is back.", level="error")

    def shutdown(self) -> None:
        """Children first (SIGTERM together, SIGKILL after STOP_TIMEOUT), then Redis, then PostgreSQL."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
        for child in self.children:
            stop_process(child.proc, timeout=max(0.1, deadline - time.monotonic()))
            child.proc = None
        for server in reversed(self.servers):
            try:
                server.stop()
            except Exception as exc:    # noqa: BLE001 - keep stopping the others
                say(f"stopping {server.name}: {exc}")
        if self.run_dir is not None:
            self.run_dir.cleanup()
        if self.lock.fd is not None:      # never touch the state of another supervisor that holds the lock
            state_file(self.data_dir).unlink(missing_ok=True)
            self.lock.release()

    # --- demo county
    def _prepare_demo_admin(self, env: dict[str, str]) -> None:
        """The demo seeds through the API as the bootstrap admin, so the supervisor must know that password."""
        if not self.demo or (self.data_dir / DEMO_MARKER).exists() or self.settings.admin_password:
            return
        path = self.data_dir / DEMO_PASSWORD_FILE
        if path.exists():
            password = path.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password)
            announce(f"Demo administrator: {self.settings.admin_username} / {password} (shown once)")
        env["JINGZHUN_ADMIN_PASSWORD"] = self.generated_admin_password = password

    def seed_demo(self) -> None:
        marker = self.data_dir / DEMO_MARKER
        if marker.exists():
            return
        password = self.settings.admin_password or self.generated_admin_password
        try:
            started = time.monotonic()
            summary = demo.seed(self.gateway_url, username=self.settings.admin_username, password=password,
                                settings=self.child_settings, log=say,
                                should_stop=lambda: self.stop_signal is not None)
        except demo.SeedError as exc:
            say(f"demo data not seeded: {exc}", level="error")
            return
        if summary is None:     # interrupted by a signal
            return
        marker.write_text(json.dumps(summary, ensure_ascii=False) + "\n")
        (self.data_dir / DEMO_PASSWORD_FILE).unlink(missing_ok=True)
        say("demo county seeded: " + ", ".join(f"{k} {v}" for k, v in summary.items())
            + f" ({time.monotonic() - started:.0f} s)")
