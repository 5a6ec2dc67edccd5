"""The public page in a real headless Chromium (Debian's), driven by Playwright, against uvicorn.

Set ``JINGZHUN_SCREENSHOT_DIR=docs`` to refresh the committed screenshot (docs/public-notice.png).
"""

import os
import shutil
from pathlib import Path

import httpx
import pytest

from services.funds.app import create
from shared.testing import ServedInThread, auth, make_token
from tests.conftest import TOWNSHIP
from tests.funds.conftest import notice_body, person

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver "
                                       "(.ci/run does so when it runs as root)")


@pytest.fixture
def served(settings):
    with ServedInThread(create(settings)) as s:
        yield s


async def test_the_page_renders_in_chromium_and_its_form_files_an_objection(served, settings, tmp_path):
    items = [person(1, name="马文军", address="洪广镇欣荣村三组12号"),
             person(2, name="李秀英", address="洪广镇欣荣村三组15号", attribute="dibao", main_cause="disability",
                    members=2),
             person(3, name="杨占福", address="洪广镇欣荣村五组3号", main_cause="lack_skills", members=5),
             person(4, name="<script>alert(1)</script>", amount="1500.00", memo="姓名含特殊字符的测试数据")]
    service = auth(make_token(settings, role="service", region="", sub="svc:registry"))
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        r = await http.post("/internal/notices", json=notice_body(items=items), headers=service)
        assert r.status_code == 201, r.text
        notice = r.json()

        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = await browser.new_page(viewport={"width": 420, "height": 900}, device_scale_factor=2,
                                              java_script_enabled=False)   # the page must work without script
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                answer = await page.goto(f"{served.url}/public/notices/{notice['id']}.html")
                assert answer.status == 200
                assert await page.title() == "欣荣村2020年贫困户识别公示 - 公示"
                assert await page.locator("h1").inner_text() == "欣荣村2020年贫困户识别公示"
                rows = page.locator("#items tbody tr")
                assert await rows.count() == 4
                first = await rows.nth(0).inner_text()
                assert "马文军" in first and items[0]["id_number"][:6] + "********" in first
                assert "139****0001" in first and "3,000.00" in first
                assert "<script>alert(1)</script>" in await rows.nth(3).inner_text()   # shown as text, not run
                assert "10,500.00" in await page.locator("#items tfoot").inner_text()
                assert notice["content_hash"] in await page.locator("#hash").inner_text()
                text = await page.locator("body").inner_text()
                for item in items:
                    assert item["id_number"] not in text and item["phone"] not in text
                box = await page.locator("main").bounding_box()
                assert box["width"] <= 420, "fits a phone's width"

                await page.fill("#contact_name", "王大妈")
                await page.fill("#contact_phone", "13812345678")
                await page.fill("#content", "马文军家去年盖了新房，还买了小汽车，不符合条件。")
                shots = [Path(d) for d in (tmp_path, os.environ.get("JINGZHUN_SCREENSHOT_DIR")) if d]
                await page.screenshot(path=str(tmp_path / "public-notice.png"), full_page=True)
                async with page.expect_navigation():
                    await page.click("button[type=submit] >> text=提交异议")
                banner = await page.locator("#banner").inner_text()
                assert "您的异议已提交" in banner
                assert errors == []
            finally:
                await browser.close()
        for directory in shots[1:]:
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "public-notice.png", directory / "public-notice.png")

        officer = auth(make_token(settings, role="township_officer", region=TOWNSHIP, sub="u-town"))
        listed = (await http.get(f"/api/v1/notices/{notice['id']}/objections", headers=officer)).json()
        assert [(o["contact_name"], o["contact_phone"], o["status"]) for o in listed["items"]] == [
            ("王大妈", "13812345678", "pending")]
        assert listed["items"][0]["content"].startswith("马文军家去年盖了新房")
