"""Calls between services: one httpx client per process, service tokens, forwarded request ids."""

from __future__ import annotations

import time
from typing import Any

import httpx

from shared import context, i18n
from shared.jwt import Signer
from shared.problems import Problem, ServiceUnavailable
from shared.settings import Settings

TIMEOUT = httpx.Timeout(10.0, connect=2.0)


class UpstreamProblem(Problem):
    """A problem answered by another service, passed on with its status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("detail") or body.get("title") or "upstream error"))
        self.status = status
        self._body = body

    def body(self, lang: str | None = None) -> dict[str, Any]:
        return dict(self._body, status=self.status)


class ServiceClient:
    def __init__(self, *, settings: Settings, client: httpx.AsyncClient, signer: Signer, service: str) -> None:
        self.settings, self.client, self.signer, self.service = settings, client, signer, service
        self._token: tuple[str, float] | None = None

    def service_token(self) -> str:
        if self._token is None or self._token[1] - time.time() < 60:
            token, claims = self.signer.sign({"sub": f"svc:{self.service}", "role": "service", "region": ""},
                                             ttl=600)
            self._token = (token, claims["exp"])
        return self._token[0]

    async def request(self, method: str, service: str, path: str, *, json: Any = None,
                      params: dict[str, Any] | None = None, as_service: bool = True) -> Any:
        """Call ``service`` and return its JSON; a problem answer is raised as :class:`UpstreamProblem`.

        ``as_service=False`` forwards the caller's own token so the callee applies the caller's scope.
        """
        token = (None if as_service else context.bearer_token.get()) or self.service_token()
        headers = {"Authorization": f"Bearer {token}"}
        if rid := context.request_id.get():
            headers["X-Request-ID"] = rid
        headers["Accept-Language"] = i18n.current()      # a problem passed on reads as the caller asked
        try:
            resp = await self.client.request(method, self.settings.service_url(service) + path, json=json,
                                             params=params, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"{service} service is unreachable ({type(exc).__name__})") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"title": "upstream error", "detail": resp.text[:200]}
            if resp.status_code >= 500:
                raise ServiceUnavailable(f"{service} service failed: {body.get('detail', '')}")
            raise UpstreamProblem(resp.status_code, body if isinstance(body, dict) else {"detail": str(body)})
        return resp.json() if resp.content else None
