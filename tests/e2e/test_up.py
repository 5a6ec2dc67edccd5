"""`jingzhun up` as a user runs it: no database or Redis URL, so both are embedded in a fresh data dir.

One test, two starts (CI budget): the first seeds the demo county, writes through the gateway and is
stopped with SIGTERM; the second, on the same data dir, still has the data, and walks a registration and a
household payment through the gateway, with the real workers carrying the events between the services
(notice.closed to the registry and to funds, payment.paid to notifications), then 防返贫监测 from a villager's
report to 风险消除 (tests/e2e/monitoring_walk.py). After each stop no process of
the stack is left (postgres, redis-server, uvicorns, workers).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import psutil
import pytest

from jingzhun import demo
from tests.e2e.monitoring_walk import monitoring_walk
from shared import idnumber
from shared.embedded import outside_data
from shared.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "e2e-admin-password"
READY = "Jingzhun is ready at"

pytestmark = pytest.mark.skipif(not (ROOT / "services" / "gateway" / "app.py").exists(),
                                reason="the gateway (services/gateway/app.py) is not built yet")


class Stack:
    """`python -m jingzhun up` in a subprocess, its output collected by a thread."""

    def __init__(self, data_dir: Path | None, port: int, *args: str, cwd: Path = ROOT,
                 env: dict[str, str] | None = None) -> None:
        """``data_dir`` None: the default one, ``.jingzhun`` in ``cwd``; ``env`` is added to ours."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
        environ.update(JINGZHUN_PORT=str(port), JINGZHUN_ADMIN_PASSWORD=ADMIN_PASSWORD, JINGZHUN_NOTICE_MIN_DAYS="0",
                       PYTHONUNBUFFERED="1", **(env or {}))
        if data_dir is not None:
            environ["JINGZHUN_DATA_DIR"] = str(data_dir)
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "jingzhun", "up", *args], cwd=cwd, env=environ,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None:
                pytest.fail(f"`jingzhun up` exited with {self.proc.returncode} before {text!r}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} within {timeout:.0f} s:\n{self.output()}")
            time.sleep(0.1)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self, data_dir: Path) -> None:
        """SIGTERM: exit 0 within 30 s, nothing left behind."""
        family = self.descendants()
        names = set()
        for p in family:        # a backend or a job's child may exit between the listing and the look
            try:
                names.add(p.name())
            except psutil.NoSuchProcess:
                pass
        assert {"postgres", "redis-server"} <= names, names
        for p in family:    # embedded servers on unix sockets only: never the machine's 5432 / 6379
            try:
                listening = {c.laddr.port for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN}
            except psutil.Error:
                continue
            assert not listening & {5432, 6379}, (p.cmdline(), listening)
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`jingzhun up` did not stop within 30 s:\n{self.output()}")
        assert code == 0, self.output()
        _, alive = psutil.wait_procs(family, timeout=5)
        assert not alive, [p.cmdline() for p in alive]
        places = [str(data_dir)] + [str(p) for p in [outside_data(data_dir)] if p is not None]
        mentions = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            if p.info["cmdline"] and any(place in " ".join(p.info["cmdline"]) for place in places):
                mentions.append(p.info)
        assert not mentions
        assert sum(READY in line for line in self.lines) == 1

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()      # its children follow (parent-death signal)
                self.proc.wait()


def token(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"grant_type": "password", "username": username,
                                                "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def until(what: str, check, timeout: float = 60):
    """Poll ``check`` (a function returning a truthy value when done) for an asynchronous outcome."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.3)
    return value


def registration_and_payment(client: httpx.Client, admin: dict[str, str], finance: dict[str, str]) -> None:
    """Two new households of 欣荣村 registered through their 公示 (the demo's own are registered, or in a 公示
    open now); then paid 1,500.00 each from an industry allocation: batch, 公示, approval by another person, the
    bank's results, an SMS for each head."""
    village, township = "640122100201", "640122100000"
    ids = []
    for n, name in enumerate(("马新民", "杨志远")):
        r = client.post("/api/v1/households", headers=admin, json={
            "village_code": village, "address": f"宁夏回族自治区银川市贺兰县欣荣村9组{101 + n}号",
            "phone": f"1399510{n:04d}", "attribute": "general", "main_cause": "illness", "identified_year": 2020,
            "members": [{"name": name, "id_number": idnumber.make("640122", date(1966, 6, 6), 901 + 2 * n),
                         "relation": "head", "health": "healthy", "labor": "normal", "education": "junior_high",
                         "in_school": False, "migrant_worker": False}]})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for hid in ids:
        r = client.post(f"/api/v1/households/{hid}/transitions", json={"action": "propose_registration",
                                                                       "year": demo.YEAR}, headers=admin)
        assert r.status_code == 200, r.text
        r = client.post(f"/api/v1/notices/{r.json()['pending_action']['notice_id']}/close", headers=admin)
        assert r.status_code == 200, r.text
    for hid in ids:
        until(f"household {hid} registered",
              lambda hid=hid: client.get(f"/api/v1/households/{hid}", headers=admin).json()["status"] == "registered")

    source = client.get("/api/v1/fund-sources", headers=admin).json()["items"][0]["id"]
    r = client.post("/api/v1/allocations", headers=finance, json={
        "source_id": source, "region_code": township, "purpose": "industry", "amount": "10000.00", "year": demo.YEAR,
        "doc_no": "贺财〔2020〕12号"})
    assert r.status_code == 201, r.text
    allocation = r.json()["id"]
    r = client.post("/api/v1/disbursements", headers=admin, json={
        "allocation_id": allocation, "title": "欣荣村2020年产业到户补贴",
        "lines": [{"household_id": hid, "amount": "1500.00"} for hid in ids]})
    assert r.status_code == 201, r.text
    batch = r.json()["id"]
    notice = client.post(f"/api/v1/disbursements/{batch}/publicize", headers=admin).json()["notice_id"]
    assert client.get(f"/public/notices/{notice}").json()["kind"] == "disbursement"
    assert client.post(f"/api/v1/notices/{notice}/close", headers=admin).status_code == 200
    until("the batch's 公示 applied", lambda: client.get(f"/api/v1/disbursements/{batch}",
                                                       headers=admin).json()["status"] == "publicized")
    r = client.post(f"/api/v1/disbursements/{batch}/approve", headers=finance)
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/auth/clients", headers=admin, json={"name": "宁夏黄河农村商业银行", "bank_code": "NXRCU",
                                                                 "region_code": "640122000000"})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": r.json()["client_id"],
                                                "client_secret": r.json()["client_secret"]})
    bank = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.post(f"/api/v1/disbursements/{batch}/send", headers=admin,
                       json={"bank_code": "NXRCU"}).status_code == 200
    lines = client.get(f"/api/v1/bank/disbursements/{batch}", headers=bank).json()["lines"]
    r = client.post(f"/api/v1/bank/disbursements/{batch}/results", headers=bank | {"Idempotency-Key": "nx-1"},
                    json={"lines": [{"household_id": x["household_id"], "status": "paid", "bank_ref": f"NX{n}"}
                                    for n, x in enumerate(lines)]})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    spent = client.get(f"/api/v1/allocations/{allocation}", headers=admin).json()
    assert (spent["spent"], spent["available"]) == ("3000.00", "7000.00")
    demo_paid = 10 * len(demo.BATCHES)        # the demo's own batches paid ten households each
    until("an SMS for each paid head", lambda: len(client.get(
        "/api/v1/notifications", params={"kind": "payment.paid", "limit": 100}, headers=admin
    ).json()["items"]) == 2 + demo_paid)


def forget_outside_data(data_dir: Path) -> None:
    """Run as root, PostgreSQL may keep its data outside a data dir its user cannot enter: delete it too."""
    outside = outside_data(data_dir)
    if outside is not None:
        shutil.rmtree(outside, ignore_errors=True)


@pytest.fixture
def data_dir(tmp_path):
    yield tmp_path / "data"
    forget_outside_data(tmp_path / "data")


def test_up_runs_the_stack_on_embedded_servers_and_keeps_data(data_dir):
    port = free_port()
    new_village = {"code": "640122100299", "name": "测试新村", "rural_population": 321}

    first = Stack(data_dir, port, "--demo")
    try:
        first.wait_for(READY, timeout=120)
        assert f"{READY} http://127.0.0.1:{port}" in first.output()
        # a second `up` on the same data dir is refused while this one runs
        env = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
        second = subprocess.run([sys.executable, "-m", "jingzhun", "up"], cwd=ROOT, capture_output=True, text=True,
                                env=dict(env, JINGZHUN_DATA_DIR=str(data_dir), JINGZHUN_PORT=str(free_port())),
                                timeout=60)
        assert second.returncode == 1 and "another jingzhun" in second.stderr
        # the ops door works against the running stack's embedded database
        made = subprocess.run([sys.executable, "-m", "jingzhun", "create-user", "--username", "ops_user",
                               "--password", "ops-user-password", "--role", "auditor", "--region", "640122000000"],
                              cwd=ROOT, capture_output=True, text=True, env=dict(env, JINGZHUN_DATA_DIR=str(data_dir)),
                              timeout=60)
        assert made.returncode == 0, made.stderr
        first.wait_for("demo county seeded", timeout=180)   # a few hundred households and their history
        print(next(line for line in first.lines if "demo county seeded" in line))

        with httpx.Client(base_url=first.url, timeout=10) as client:
            assert client.get("/readyz").status_code == 200
            admin = token(client, "admin", ADMIN_PASSWORD)
            village = client.get("/api/v1/regions/640122100201", headers=admin)
            assert village.status_code == 200 and village.json()["name"] == "欣荣村"
            homes = client.get("/api/v1/households", params={"region": "640122100201", "limit": 500}, headers=admin)
            statuses = [h["status"] for h in homes.json()["items"]]
            assert homes.status_code == 200 and len(statuses) - statuses.count("ordinary") == 25
            assert statuses.count("ordinary") == 8                          # 一般农户, for 防返贫监测
            figures = client.get("/api/v1/stats/monitoring/640122000000", headers=admin).json()
            assert all(row["cases"] > 0 for row in figures["by_status"]), figures    # the screening job ran too
            warnings = client.get("/api/v1/monitoring/warnings", params={"limit": 500}, headers=admin).json()
            assert {w["status"] for w in warnings["items"]} == {"open", "dismissed", "case_opened"}
            r = client.post("/api/v1/regions", json=new_village, headers=admin)
            assert r.status_code == 201, r.text
            r = client.get(f"/api/v1/regions/{new_village['code']}", headers=admin)
            assert r.status_code == 200 and r.json()["name"] == "测试新村"
            token(client, "ops_user", "ops-user-password")
        first.stop(data_dir)
    finally:
        first.kill()
    assert (data_dir / "demo-seeded").exists()

    again = Stack(data_dir, port)
    try:
        again.wait_for(READY, timeout=90)
        with httpx.Client(base_url=again.url, timeout=10) as client:
            admin = token(client, "admin", ADMIN_PASSWORD)
            r = client.get(f"/api/v1/regions/{new_village['code']}", headers=admin)
            assert r.status_code == 200 and r.json()["rural_population"] == 321
            finance = token(client, "finance", demo.DEMO_PASSWORD)        # a demo user, kept too
            r = client.get("/api/v1/fund-sources", headers=finance)
            assert r.status_code == 200
            assert len([s for s in r.json()["items"] if s["year"] == demo.YEAR]) == len(demo.FUND_SOURCES)
            allocated = client.get("/api/v1/allocations", params={"year": demo.YEAR}, headers=finance).json()["items"]
            assert sorted(a["purpose"] for a in allocated) == sorted(p for p, _ in demo.ALLOCATIONS)
            registration_and_payment(client, admin, finance)
            monitoring_walk(client, admin, data_dir, token, until)
        again.stop(data_dir)
    finally:
        again.kill()
