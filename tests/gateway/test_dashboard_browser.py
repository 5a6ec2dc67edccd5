"""The county dashboard (/dashboard) in a real headless Chromium (Debian's), driven by Playwright, against the whole
stack under uvicorn: the gateway with the registry, funds and notifications in-process behind it. Every request
that is not to that server is aborted (and counted: there must be none), so the page and ECharts come from the
project itself.

The test signs in through the page's form, waits for the charts and reads the ECharts instances' own data
(``echarts.getInstanceByDom(el).getOption()``) against the seeded figures; a township officer's page lists their
township only; printing lays the charts out again at the paper's width; on a phone nothing is wider than the screen.

Set ``JINGZHUN_SCREENSHOT_DIR=docs`` to refresh the committed screenshots (docs/dashboard-desktop.png and
docs/dashboard-phone.png): ``JINGZHUN_SCREENSHOT_DIR=docs uv run pytest tests/gateway/test_dashboard_browser.py``.
"""

from __future__ import annotations

import os
import shutil
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis import asyncio as aioredis

from services.funds.app import create as create_funds
from services.gateway.app import create as create_gateway
from services.notifications.app import create as create_notifications
from services.registry.app import create as create_registry
from shared.queue import redis_url
from shared.settings import Settings
from shared.testing import ServedInThread
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP
from tests.gateway.conftest import ServiceTransport, netloc
from tests.gateway.dashboard_seed import OFFICER, OFFICER_PASSWORD, seed

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ADMIN_PASSWORD = "Dashboard-admin-2024"
THIS_YEAR = date.today().year
CHARTS = ("chart-incidence", "chart-status", "chart-years", "chart-causes", "chart-batches", "chart-funds",
          "chart-loans")

MONITORING = {"code": TOWNSHIP, "name": "洪广镇", "level": "township", "year": 2020,
              "by_category": [{"code": "unstable", "label": "脱贫不稳定户", "households": 3},
                              {"code": "marginal", "label": "边缘易致贫户", "households": 2},
                              {"code": "sudden", "label": "突发严重困难户", "households": 1}],
              "monitored_households": 6, "eliminated_in_year": 2, "overdue_reports": 1, "children": []}

playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver "
                                       "(.ci/run does so when it runs as root)")


class WholeStack:
    """One ASGI app: the gateway, whose lifespan also starts the services, every call between them in-process."""

    def __init__(self, settings: Settings) -> None:
        self.services: dict[str, FastAPI] = {"registry": create_registry(settings), "funds": create_funds(settings),
                                             "notifications": create_notifications(settings)}
        self.transport = ServiceTransport({netloc(settings.service_url(n)): a for n, a in self.services.items()})
        self.gateway = create_gateway(settings, transport=self.transport)
        self.exits = AsyncExitStack()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await self.gateway(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for app in self.services.values():
                    await self.exits.enter_async_context(app.router.lifespan_context(app))
                    await app.state.http.aclose()
                    app.state.http = httpx.AsyncClient(transport=self.transport, trust_env=False, timeout=10.0)
                    app.state.services.client = app.state.http
                    self.exits.push_async_callback(app.state.http.aclose)
                await self.exits.enter_async_context(self.gateway.router.lifespan_context(self.gateway))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.exits.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture
def served(settings):
    with ServedInThread(WholeStack(settings.model_copy(update={"admin_password": ADMIN_PASSWORD}))) as s:
        yield s


@pytest.fixture
async def county(served, settings):
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as api:
        r = await api.post("/api/v1/auth/token", data={"grant_type": "password", "username": "admin",
                                                       "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        seeded = await seed(api, settings, {"Authorization": f"Bearer {r.json()['access_token']}"})
    return served, seeded


# What the page drew: each chart's categories and series as ECharts holds them, and how wide it is drawn.
READ_CHARTS = """ids => Object.fromEntries(ids.map(id => {
  const node = document.getElementById(id);
  const c = echarts.getInstanceByDom(node);
  if (!c) return [id, null];
  const o = c.getOption();
  const cat = (o.xAxis || []).concat(o.yAxis || []).find(a => a.type === 'category');
  return [id, {categories: cat ? cat.data : null, width: c.getWidth(), box: node.clientWidth,
               series: o.series.map(s => ({name: s.name, data: s.data, color: s.itemStyle && s.itemStyle.color}))}];
}))"""


async def open_page(browser, url: str, *, username: str, password: str, blocked: list[str], answers: dict,
                    monitoring: dict | None = None, **context):
    """Signed in through the page's form, the charts drawn. ``monitoring``: the §11 statistics answer to give the
    page (their endpoint is being built; until it answers, the gateway's own answer is used)."""
    ctx = await browser.new_context(**context)
    origin = url.rstrip("/")

    async def only_ours(route):
        if route.request.url.startswith(origin + "/"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await ctx.route("**/*", only_ours)
    page = await ctx.new_page()
    page.monitoring_asked = []
    if monitoring is not None:
        async def answer_monitoring(route):
            page.monitoring_asked.append(route.request.url.removeprefix(origin))
            await route.fulfill(status=200, json=monitoring)
        await page.route(f"{origin}/api/v1/stats/monitoring/**", answer_monitoring)
    page.on("response", lambda r: answers.__setitem__(r.url.split("?")[0].removeprefix(origin), r.status))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    answer = await page.goto(f"{origin}/dashboard?year=2020")
    assert answer.status == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    await page.wait_for_selector("body[data-state=login]", state="attached")
    assert await page.locator("#board").is_hidden()
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_selector("body[data-state=ready]", state="attached", timeout=30_000)
    return ctx, page


def series(chart: dict) -> dict[str, list]:
    return {s["name"]: s["data"] for s in chart["series"]}


async def table(page, selector: str) -> list[list[str]]:
    return await page.eval_on_selector_all(f"{selector} tbody tr",
                                           "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


async def test_the_dashboard_draws_the_seeded_county_and_a_township_sees_only_itself(county, tmp_path):
    served, seeded = county
    blocked: list[str] = []
    answers: dict[str, int] = {}
    shots = [Path(d) for d in (tmp_path, os.environ.get("JINGZHUN_SCREENSHOT_DIR")) if d]
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # --- the county administrator, on a desktop screen -------------------------------------------------
            ctx, page = await open_page(browser, served.url, username="admin", password=ADMIN_PASSWORD,
                                        blocked=blocked, answers=answers, viewport={"width": 1280, "height": 900})
            assert await page.locator("#title").inner_text() == "贺兰县脱贫攻坚作战图"
            charts = await page.evaluate(READ_CHARTS, list(CHARTS))

            incidence = charts["chart-incidence"]
            assert incidence["categories"] == ["洪广镇", "金贵镇"]
            assert series(incidence) == {"贫困发生率": [7 / 1000, 2 / 800]}       # A 3 + C 4 of 1,000; E 2 of 800
            assert await table(page, "#table-incidence") == [
                ["洪广镇", "1,000", "3", "2", "7", "0.70%"], ["金贵镇", "800", "2", "1", "2", "0.25%"]]

            status = charts["chart-status"]
            counts = dict(zip(status["categories"], zip(*series(status).values(), strict=True), strict=True))
            assert {k: v for k, v in counts.items() if v != (0, 0)} == {
                "识别中": (1, 1), "在册": (2, 5), "已脱贫": (2, 7), "返贫": (1, 4), "清退": (1, 3)}

            years = charts["chart-years"]
            assert years["categories"] == [str(y) for y in range(2014, THIS_YEAR + 1)]
            lines = {name: dict(zip(years["categories"], data, strict=True)) for name, data in series(years).items()}
            nonzero = {name: {y: n for y, n in by_year.items() if n} for name, by_year in lines.items()}
            assert nonzero == {"纳入": {"2016": 4, "2017": 1, "2018": 1}, "脱贫": {"2018": 1, "2019": 1, "2020": 1},
                               "返贫": {"2020": 1}, "清退": {"2019": 1}}

            [causes] = charts["chart-causes"]["series"]
            assert {d["name"]: d["value"] for d in causes["data"]} == {"因病": 2, "因残": 1, "因学": 1, "缺技术": 1}
            batches = charts["chart-batches"]
            assert dict(zip(batches["categories"], series(batches)["受益户"], strict=True)) == {
                "发展生产": 2, "易地搬迁": 1, "生态补偿": 0, "发展教育": 1, "社会保障兜底": 1}

            funds = charts["chart-funds"]
            assert funds["categories"] == ["产业发展", "教育扶贫", "危房改造"]
            assert series(funds) == {"下达": [50000, 8000, 20000], "已安排": [14000, 0, 0], "已支出": [6000, 0, 0],
                                     "滞留滞拨": [0, 8000, 0]}
            assert {s["name"]: s["color"] for s in funds["series"]}["滞留滞拨"] == "#c62828"       # in red
            rows = await table(page, "#table-funds")
            assert rows[1] == ["教育扶贫", "8,000.00", "0.00", "0.00", "8,000.00", "8,000.00"]
            assert rows[-1] == ["合计", "78,000.00", "14,000.00", "6,000.00", "58,000.00", "8,000.00"]
            assert await page.locator("#table-funds tbody tr:nth-child(2) td.idle").count() == 1
            assert "8000.00 元" in await page.locator("#alerts").inner_text()

            loans = charts["chart-loans"]
            # 授信率 3 of 5 建档立卡户, 获贷率 2 of 5, 逾期率 50,000 of 70,000 outstanding, 回收率 10,000 of 10,000
            assert dict(zip(loans["categories"], series(loans)["比率"], strict=True)) == {
                "授信率": 0.6, "获贷率": 0.4, "逾期率": round(50000 / 70000, 4), "回收率": 1}

            # §11's statistics: drawn when the API answers them, hidden while it does not exist (404)
            monitoring = answers[f"/api/v1/stats/monitoring/{'640122000000'}"]
            assert await page.locator("#panel-monitoring").is_visible() == (monitoring == 200)
            assert monitoring in (200, 404)

            await page.screenshot(path=str(tmp_path / "dashboard-desktop.png"), full_page=True)

            # printing: the panels stack one per row at the paper's width, and every chart is drawn again to fit
            before = charts["chart-status"]["width"]
            await page.emulate_media(media="print")
            await page.wait_for_function("""() => { const c = echarts.getInstanceByDom(
                document.getElementById('chart-status')); return c.getWidth() === c.getDom().clientWidth; }""")
            printed = await page.evaluate(READ_CHARTS, list(CHARTS))
            assert printed["chart-status"]["width"] > before
            assert all(c["width"] == c["box"] for c in printed.values()), printed
            assert await page.locator("#controls").is_hidden()
            await page.emulate_media(media="screen")
            assert page.errors == []
            await ctx.close()

            # --- the township officer: their township only, whatever the address asks ------------------------
            ctx, page = await open_page(browser, served.url, username=OFFICER, password=OFFICER_PASSWORD,
                                        blocked=blocked, answers=answers, viewport={"width": 1280, "height": 900},
                                        monitoring=MONITORING)
            assert await page.locator("#title").inner_text() == "洪广镇脱贫攻坚作战图"
            charts = await page.evaluate(READ_CHARTS, list(CHARTS))
            assert charts["chart-incidence"]["categories"] == ["洪广镇"]
            assert series(charts["chart-incidence"]) == {"贫困发生率": [7 / 1000]}
            assert await table(page, "#table-incidence") == [["洪广镇", "1,000", "3", "2", "7", "0.70%"]]
            status = charts["chart-status"]
            assert dict(zip(status["categories"], series(status)["户数"], strict=True))["在册"] == 1
            assert sum(series(status)["户数"]) == 4                                           # A, B, C, D
            assert charts["chart-funds"]["categories"] == ["产业发展"]
            assert series(charts["chart-funds"])["滞留滞拨"] == [0]
            assert dict(zip(charts["chart-loans"]["categories"], series(charts["chart-loans"])["比率"],
                            strict=True)) == {"授信率": round(2 / 3, 4), "获贷率": round(1 / 3, 4), "逾期率": 1,
                                              "回收率": None}
            # the §11 panel, drawn from an answer of that shape (codes with their labels, as every statistic has)
            assert page.monitoring_asked == [f"/api/v1/stats/monitoring/{TOWNSHIP}?year=2020"]
            assert await page.locator("#panel-monitoring").is_visible()
            monitored = (await page.evaluate(READ_CHARTS, ["chart-monitoring"]))["chart-monitoring"]
            assert dict(zip(monitored["categories"], series(monitored)["监测户"], strict=True)) == {
                "脱贫不稳定户": 3, "边缘易致贫户": 2, "突发严重困难户": 1}
            tiles = await page.locator("#monitoring-tiles .tile").all_inner_texts()
            assert [t.split("\n") for t in tiles] == [["当前监测户", "6"], ["本年风险消除", "2"],
                                                     ["逾期未处理申报", "1"]]
            await page.goto(f"{served.url}/dashboard?region={OTHER_TOWNSHIP}&year=2020")
            await page.wait_for_selector("body[data-state=ready]", state="attached")
            assert await page.locator("#title").inner_text() == "洪广镇脱贫攻坚作战图"
            assert (await page.evaluate(READ_CHARTS, ["chart-incidence"]))["chart-incidence"]["categories"] == [
                "洪广镇"]
            assert page.errors == []
            await ctx.close()

            # --- on a phone: one column, nothing wider than the screen --------------------------------------
            ctx, page = await open_page(browser, served.url, username="admin", password=ADMIN_PASSWORD,
                                        blocked=blocked, answers=answers, viewport={"width": 390, "height": 844},
                                        device_scale_factor=2, is_mobile=True, has_touch=True)
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            charts = await page.evaluate(READ_CHARTS, list(CHARTS))
            assert all(0 < c["width"] <= 390 for c in charts.values()), charts
            assert charts["chart-incidence"]["categories"] == ["洪广镇", "金贵镇"]
            await page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
            assert page.errors == []
            await ctx.close()
        finally:
            await browser.close()
    assert blocked == [], "the page asked for something outside the project"
    assert answers["/dashboard/assets/echarts.min.js"] == 200
    for directory in shots[1:]:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("dashboard-desktop.png", "dashboard-phone.png"):
            shutil.copy(tmp_path / name, directory / name)


async def test_the_assets_are_served_with_their_licence_and_nothing_else(served):
    async with httpx.AsyncClient(base_url=served.url) as http:
        page = await http.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/dashboard/assets/echarts.min.js" in page.text and "://" not in page.text
        js = await http.get("/dashboard/assets/echarts.min.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert "Apache" in js.text[:2000] and len(js.content) > 500_000
        licence = await http.get("/dashboard/assets/echarts/LICENSE")
        assert licence.status_code == 200 and "Apache License" in licence.text
        assert "Apache ECharts" in (await http.get("/dashboard/assets/echarts/NOTICE")).text
        for path in ("/dashboard/assets/../app.py", "/dashboard/assets/router.py", "/dashboard/assets/dashboard.html",
                     "/dashboard/assets/%2e%2e/router.py"):
            assert (await http.get(path)).status_code == 404, path


async def test_a_wrong_password_is_said_in_chinese_and_shows_nothing(served, settings):
    try:
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = await browser.new_page()
                await page.goto(f"{served.url}/dashboard")
                await page.wait_for_selector("body[data-state=login]", state="attached")
                await page.fill("#username", "admin")
                await page.fill("#password", "not-the-password")
                await page.click("#login-submit")
                await page.wait_for_selector("#login-error:not([hidden])")
                assert await page.locator("#login-error").inner_text() == "用户名或密码错误"
                assert await page.locator("#board").is_hidden()
                assert await page.evaluate("sessionStorage.length") == 0
            finally:
                await browser.close()
    finally:
        redis = aioredis.from_url(redis_url(settings))
        keys = [k async for k in redis.scan_iter(match=f"{settings.queue_prefix}:login-fail:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
