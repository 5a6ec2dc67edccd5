"""``/docs`` in Debian's headless Chromium with the outside world cut off, as on a government intranet (政务外网):
every request to a host other than 127.0.0.1 is aborted by Playwright's routing, and counted.

The whole stack runs under uvicorn (each service on its own port, the gateway merging their documents). Set
``JINGZHUN_SCREENSHOT_DIR=docs`` to refresh the committed screenshot (docs/docs-offline.png):

    JINGZHUN_SCREENSHOT_DIR=docs uv run pytest tests/gateway/test_docs_browser.py
"""

import os
import shutil
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from services.funds.app import create as create_funds
from services.gateway.app import create as create_gateway
from services.notifications.app import create as create_notifications
from services.registry.app import create as create_registry
from shared.testing import ServedInThread, free_port, wait_until
from tests.funds.test_public_page_browser import ARGS, CHROMIUM
from tests.gateway.conftest import ADMIN, ADMIN_PASSWORD

playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does so as root)")
LOCAL = {"127.0.0.1", "localhost"}


@pytest.fixture
def stack_urls(settings):
    """The four services under uvicorn, each on its own port and wired to the others by URL: the gateway's URL."""
    ports = {name: free_port() for name in ("gateway", "registry", "funds", "notifications")}
    wired = settings.model_copy(update={f"{name}_url": f"http://127.0.0.1:{port}" for name, port in ports.items()}
                                | {"admin_password": ADMIN_PASSWORD})
    apps = {"registry": create_registry(wired), "funds": create_funds(wired),
            "notifications": create_notifications(wired), "gateway": create_gateway(wired)}
    with ExitStack() as stack:
        for name, app in apps.items():          # the gateway last: it fetches the others' documents
            server = ServedInThread(app)
            server.port, server.url = ports[name], f"http://127.0.0.1:{ports[name]}"
            server.server.config.port = ports[name]
            stack.enter_context(server)
        yield wired.gateway_url


async def test_docs_load_with_the_internet_cut_off_and_authorize_signs_in(stack_urls, tmp_path):
    async with httpx.AsyncClient(base_url=stack_urls, timeout=10) as http:
        async def merged():
            spec = (await http.get("/openapi.json")).json()
            return "x-missing-services" not in spec["info"] and spec
        assert await wait_until(merged, timeout=30), "every service's document is merged"

    outside: list[str] = []
    local: list[str] = []

    async def only_local(route):
        if urlsplit(route.request.url).hostname in LOCAL:
            local.append(route.request.url)
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort("internetdisconnected")

    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            await context.route("**/*", only_local)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            answer = await page.goto(f"{stack_urls}/docs")
            assert answer.status == 200
            households = page.locator(".opblock-tag", has_text="建档立卡 households")
            await households.wait_for(timeout=20_000)
            for tag in ("身份认证 sign-in", "合作银行 partner banks", "资金 funds", "公示公告栏 public board"):
                assert await page.locator(".opblock-tag", has_text=tag).count() == 1, tag
            await households.click()
            register = page.locator(".opblock-summary", has_text="Register a household 建档立卡")
            await register.first.wait_for(timeout=10_000)
            assert await register.first.is_visible()

            await page.locator("button.authorize").first.click()
            await page.fill("#oauth_username", ADMIN)
            await page.fill("#oauth_password", ADMIN_PASSWORD)
            async with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/token")) as token:
                await page.locator(".auth-container button.authorize").first.click()
            assert (await token.value).status == 200
            signed_in = page.locator(".auth-container", has_text="Authorized")
            await signed_in.first.wait_for(timeout=10_000)
            await page.locator(".auth-container button", has_text="Logout").first.wait_for(timeout=10_000)
            await page.locator(".modal-ux button.close-modal").first.click()
            assert await page.locator("button.authorize.locked").count() > 0      # the padlocks are closed
            # the token is used: "Who am I" tried out from the page answers the administrator
            await page.locator(".opblock-tag", has_text="身份认证 sign-in").click()
            me = page.locator(".opblock", has=page.locator(".opblock-summary", has_text="Who am I 当前用户"))
            await me.locator(".opblock-summary").click()
            await me.locator("button.try-out__btn").click()
            async with page.expect_response(lambda r: r.url.endswith("/api/v1/auth/me")) as who:
                await me.locator("button.execute").click()
            assert (await who.value).status == 200 and (await (await who.value).json())["username"] == ADMIN
            await me.locator(".opblock-summary").click()
            await page.locator(".opblock-tag", has_text="身份认证 sign-in").click()
            shot = tmp_path / "docs-offline.png"
            await page.screenshot(path=str(shot), full_page=False)
        finally:
            await browser.close()
    assert outside == [], "nothing was fetched from outside the project"
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in local)
    assert any(u.endswith("/openapi.json") for u in local)
    assert errors == []
    if directory := os.environ.get("JINGZHUN_SCREENSHOT_DIR"):
        Path(directory).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(directory) / "docs-offline.png")
