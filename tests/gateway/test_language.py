"""The gateway answers in the language asked for, and passes Accept-Language on to the services."""

import httpx

from tests.gateway.conftest import ADMIN


async def test_the_gateway_passes_the_language_on(make_stack):
    async with make_stack() as stack:
        bare = httpx.AsyncClient(transport=stack.client._transport, base_url="http://test")
        async with bare:
            zh = await bare.get("/api/v1/households")                       # proxied to the registry
            assert zh.status_code == 401 and zh.json()["title"] == "需要登录"
            assert zh.json()["detail"] == "需要登录（缺少 Bearer 令牌）"
            en = await bare.get("/api/v1/households", headers={"Accept-Language": "en-US;q=0.9"})
            assert (en.json()["title"], en.json()["detail"]) == ("Authentication required", "Bearer token required")
            wrong = await bare.post("/api/v1/auth/token", data={"grant_type": "password", "username": ADMIN,
                                                                "password": "not-the-password"})
            assert wrong.status_code == 401 and wrong.json()["detail"] == "用户名或密码不对"
            assert wrong.json()["title"] == "账号或密码不对" and wrong.json()["error"] == "invalid_grant"
            down = await bare.get("/api/v1/allocations", headers=await stack.bearer())   # funds is not running
            assert down.status_code == 503 and down.json()["title"] == "服务暂不可用"
            assert down.json()["detail"] == "funds 服务暂不可用，请稍后重试"
            unknown = await bare.get("/no/such/page")
            assert unknown.status_code == 404 and unknown.json()["title"] == "没有找到"
