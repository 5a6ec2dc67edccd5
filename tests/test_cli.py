"""The `jingzhun` command without the whole stack: supervision policy, lock, console, create-user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from jingzhun import children, cli, console, datadir, supervisor
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _supervisor(tmp_path: Path) -> supervisor.Supervisor:
    return supervisor.Supervisor(Settings(data_dir=tmp_path / "data", database_url="x", redis_url="x"))


def _stop_later(sup: supervisor.Supervisor, seconds: float) -> None:
    threading.Timer(seconds, lambda: setattr(sup, "stop_signal", signal.SIGTERM)).start()


def test_a_child_that_crashes_is_restarted(tmp_path):
    flag = tmp_path / "crashed-once"
    script = f"import pathlib, sys, time\np = pathlib.Path({str(flag)!r})\n" \
             "if not p.exists():\n    p.touch(); sys.exit(3)\ntime.sleep(60)\n"
    sup = _supervisor(tmp_path)
    child = children.Child("flaky", [sys.executable, "-c", script], dict(os.environ))
    sup.children.append(child)
    child.start()
    _stop_later(sup, 2.5)
    assert sup.watch() == 0
    assert flag.exists() and child.proc is not None and child.proc.poll() is None   # running again
    pid = child.proc.pid
    sup.shutdown()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_child_that_keeps_crashing_stops_everything(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(supervisor, "MAX_BACKOFF", 0.05)
    sup = _supervisor(tmp_path)
    sup.children.append(children.Child("broken", [sys.executable, "-c", "raise SystemExit(7)"], dict(os.environ)))
    sup.children[0].start()
    _stop_later(sup, 20)      # safety net only
    started = time.monotonic()
    assert sup.watch() == 1
    assert time.monotonic() - started < 15
    sup.shutdown()
    assert "broken exited 6 times" in capsys.readouterr().err


def test_children_die_with_a_killed_supervisor(tmp_path):
    """Even `kill -9` of the supervisor leaves nothing: every child has a parent-death signal."""
    pid_file = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time, pathlib
        from shared.embedded import spawn
        p = spawn([sys.executable, "-c", "import time; time.sleep(60)"])
        pathlib.Path({str(pid_file)!r}).write_text(str(p.pid))
        time.sleep(60)
    """)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 15
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child = psutil.Process(int(pid_file.read_text()))
        parent.kill()
        parent.wait()
        child.wait(10)
    finally:
        parent.kill()


def test_a_second_up_on_the_same_data_dir_is_refused(tmp_path):
    lock = datadir.DataDirLock(tmp_path / "data")
    assert lock.try_acquire()
    state = tmp_path / "data" / "run" / "state.json"       # the running one's: left alone
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
        env["JINGZHUN_DATA_DIR"] = str(tmp_path / "data")
        done = subprocess.run([sys.executable, "-m", "jingzhun", "up"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1
        assert f"another jingzhun (pid {os.getpid()}) is running" in done.stderr
        assert not (tmp_path / "data" / "postgres").exists() and state.exists()
    finally:
        lock.release()
    assert datadir.DataDirLock(tmp_path / "data").try_acquire()


def test_worker_is_a_hidden_command():
    assert "worker" not in cli._parser().format_help()
    assert cli._parser().parse_args(["worker", "funds"]).service == "funds"
    assert supervisor.services_with_worker() == ["registry", "funds", "notifications"]


# --- console


def test_logs_are_json_lines_off_a_terminal_and_text_on_one():
    import io
    import json
    import logging

    from shared.observability import configure_logging

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        piped, terminal = io.StringIO(), Terminal()
        configure_logging("registry", "info", stream=piped)
        logging.getLogger("jingzhun.registry").warning("公示 %s closed", 42)
        logging.getLogger("jingzhun.registry").debug("not at info")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("jingzhun.registry").exception("failed")
        lines = [json.loads(line) for line in piped.getvalue().splitlines() if not line.startswith(" ")]
        assert lines[0]["msg"] == "公示 42 closed" and lines[0]["level"] == "warning"
        assert lines[0]["service"] == "registry" and lines[0]["ts"].endswith("+00:00")
        assert len(lines) == 2 and "ValueError: boom" in lines[1]["exc"]
        configure_logging("registry", "info", stream=terminal)
        logging.getLogger("jingzhun.registry").warning("公示 %s closed", 43)
        assert "registry WARNING [-] jingzhun.registry: 公示 43 closed" in terminal.getvalue()
        configure_logging("registry", "info", stream=terminal, log_format="json")
        logging.getLogger("jingzhun.registry").warning("forced")
        assert json.loads(terminal.getvalue().splitlines()[-1])["msg"] == "forced"
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_uvicorn_logs_go_through_the_same_json_lines(tmp_path):
    import json

    from shared.observability import logging_config
    config = tmp_path / "logging.json"
    config.write_text(json.dumps(logging_config("gateway", "info", json_lines=True)))
    script = ("import json, logging, logging.config, sys; "
              "logging.config.dictConfig(json.load(open(sys.argv[1]))); "
              "logging.getLogger('uvicorn.access').info('%s - \"%s %s HTTP/%s\" %d', '127.0.0.1', 'GET', '/x', "
              "'1.1', 200); logging.getLogger('uvicorn.error').warning('oops')")
    out = subprocess.run([sys.executable, "-c", script, str(config)], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert [(line["logger"], line["service"]) for line in lines] == [("uvicorn.access", "gateway"),
                                                                     ("uvicorn.error", "gateway")]
    assert '"GET /x HTTP/1.1" 200' in lines[0]["msg"]


def _children(tmp_path: Path, **kwargs) -> tuple[dict[str, list[str]], dict[str, str]]:
    sup = supervisor.Supervisor(Settings(data_dir=tmp_path / "data", database_url="x", redis_url="x"),
                                stdout=open(os.devnull, "w"), **kwargs)
    env: dict[str, str] = {}
    sup._plan_children(env)
    return {c.name: c.args for c in sup.children}, env


def test_up_shows_no_access_log_nor_cron_ticks_unless_asked(tmp_path):
    quiet, env = _children(tmp_path, environ={})
    assert all("--no-access-log" in args for name, args in quiet.items() if "worker" not in name)
    assert quiet["gateway"][quiet["gateway"].index("--log-level") + 1] == "warning"
    assert env["JINGZHUN_VERBOSE"] == "0" and env["JINGZHUN_LOG_FORMAT"] == "json"     # stdout is not a terminal
    for kwargs in ({"verbose": True, "environ": {}}, {"environ": {"JINGZHUN_LOG_LEVEL": "info"}}):
        loud, env = _children(tmp_path, **kwargs)
        assert "--no-access-log" not in loud["gateway"] and "--no-access-log" in loud["registry"]
        assert loud["gateway"][loud["gateway"].index("--log-level") + 1] == "info"
        assert env["JINGZHUN_VERBOSE"] == "1"
    assert cli._parser().parse_args(["up", "--verbose"]).verbose


def test_a_worker_shows_cron_ticks_when_verbose():
    import logging

    from shared import queue
    tick = logging.LogRecord("arq.worker", logging.INFO, "", 0, "%6.2fs ← %s ● %s", (0.01, "cron:heartbeat", None),
                             None)
    job = logging.LogRecord("arq.worker", logging.INFO, "", 0, "%6.2fs ← %s ● %s", (0.01, "abc:import_file", None),
                            None)
    arq = logging.getLogger("arq.worker")
    assert not arq.filter(tick) and arq.filter(job)
    queue.verbose_console()
    try:
        assert arq.filter(tick)
    finally:
        arq.addFilter(queue.CONSOLE)


def test_the_ready_line_names_every_url_and_speaks_json_off_a_terminal(capsys, monkeypatch):
    import json
    line = supervisor.ready_line("http://127.0.0.1:8000")
    for path in ("/api/v1", "/docs", "/dashboard", "/public"):
        assert f"http://127.0.0.1:8000{path}" in line
    monkeypatch.setattr(console, "JSON_LINES", True)
    console.announce(line)
    console.say("gateway exited with code 1; restarting it in 1 s", level="error")
    out, err = capsys.readouterr()
    assert json.loads(out)["msg"] == line and json.loads(err)["level"] == "error"
    monkeypatch.setattr(console, "JSON_LINES", False)
    console.say("migrating registry")
    assert capsys.readouterr().err == "jingzhun: migrating registry\n"


# --- create-user


async def test_create_user_uses_the_gateway_rules(settings):
    fields = {"username": "hg_officer", "password": "long-enough-pw", "role": "township_officer",
              "region_code": "640122100000", "display_name": "马德福", "phone": "13995100201"}
    user = await cli.create_user(settings, fields)
    assert user.username == "hg_officer" and user.role == "township_officer"
    with pytest.raises(console.CliError, match="409"):
        await cli.create_user(settings, fields)
    with pytest.raises(console.CliError, match="password"):
        await cli.create_user(settings, dict(fields, username="other", password="short"))


def test_create_user_command(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
    env.update(JINGZHUN_DATABASE_URL=settings.database_url, JINGZHUN_DB_PREFIX=settings.db_prefix,
               JINGZHUN_DATA_DIR=str(settings.data_dir))
    args = [sys.executable, "-m", "jingzhun", "create-user", "--username", "cli_admin", "--password",
            "another-long-pw", "--role", "county_admin", "--region", "640122000000"]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "created user cli_admin" in done.stdout
