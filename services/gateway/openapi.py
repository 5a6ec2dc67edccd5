"""One OpenAPI document for the whole API: the gateway's operations plus each service's public ones.

Service documents are fetched from ``<service>/openapi.json`` (at start, and again on request while
one is missing), cached, and merged: paths routed to that service by the prefix table, components
merged (a name already taken with different content is prefixed with the service name and its
references rewritten), one OAuth2 password-flow scheme so "Authorize" in ``/docs`` works, and every operation tagged by its path
(``services.gateway.tags``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from services.gateway.proxy import ROUTES, match
from services.gateway.tags import apply_tags
from shared.auth import TOKEN_URL
from shared.problems import document_problems, problem_doc

log = logging.getLogger("jingzhun.gateway.openapi")

SCHEME = "OAuth2PasswordBearer"
SECURITY_SCHEME = {"type": "oauth2", "description": "Staff: username and password. Partner banks use "
                   "client_credentials at the same URL.",
                   "flows": {"password": {"tokenUrl": TOKEN_URL, "scopes": {}}}}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FETCH_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
RETRY_SECONDS = 2.0


def _refs(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _rewrite(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: (refs.get(v, v) if k == "$ref" and isinstance(v, str) else _rewrite(v, refs))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, refs) for v in node]
    return node


def _renames(existing: dict[str, dict], incoming: dict[str, dict], service: str) -> dict[str, str]:
    """Old ref -> new ref for the incoming components that must be renamed to merge."""
    ref = "#/components/{}/{}".format
    renamed: dict[str, str] = {}
    uses: dict[str, set[str]] = {}
    for section, items in incoming.items():
        if section == "securitySchemes" or not isinstance(items, dict):
            continue
        for name, value in items.items():
            uses[ref(section, name)] = _refs(value, set())
            if name in existing.get(section, {}) and existing[section][name] != value:
                renamed[ref(section, name)] = ref(section, f"{service}_{name}")
    # Equal text that points at a renamed component means something else here: rename it too.
    changed = True
    while changed:
        changed = False
        for section, items in incoming.items():
            if section == "securitySchemes" or not isinstance(items, dict):
                continue
            for name in items:
                key = ref(section, name)
                if key not in renamed and name in existing.get(section, {}) and uses[key] & renamed.keys():
                    renamed[key] = ref(section, f"{service}_{name}")
                    changed = True
    return renamed


def _secure(item: dict[str, Any]) -> dict[str, Any]:
    for method in METHODS:
        op = item.get(method)
        if isinstance(op, dict) and op.get("security"):
            op["security"] = [{SCHEME: []}]
    return item


def _through_gateway(item: dict[str, Any]) -> dict[str, Any]:
    """What the gateway itself may answer for an operation it proxies: 503 while the service is away, 413 for a
    body above its limit."""
    for method in METHODS:
        op = item.get(method)
        if isinstance(op, dict):
            responses = op.setdefault("responses", {})
            responses.setdefault("503", problem_doc(503, "The service behind the gateway is unavailable or did not "
                                                         "answer in time"))
            if "requestBody" in op:
                responses.setdefault("413", problem_doc(413, "The body is above the gateway's limit"))
    return item


def merge(own: dict[str, Any], specs: dict[str, dict[str, Any]], routes: dict[str, str] = ROUTES) -> dict[str, Any]:
    """The gateway's document ``own`` with each service's public paths and components merged in."""
    out = copy.deepcopy(own)
    paths: dict[str, Any] = out.setdefault("paths", {})
    components: dict[str, dict] = out.setdefault("components", {})
    for service in sorted(specs):
        spec = specs[service]
        incoming = spec.get("components") or {}
        renamed = _renames(components, incoming, service)
        if renamed:
            spec = _rewrite(spec, renamed)
            incoming = spec.get("components") or {}
        for section, items in incoming.items():
            if section == "securitySchemes" or not isinstance(items, dict):
                continue
            target = components.setdefault(section, {})
            for name, value in items.items():
                new = renamed.get(f"#/components/{section}/{name}")
                target[new.rsplit("/", 1)[1] if new else name] = value
        for path, item in (spec.get("paths") or {}).items():
            routed = match(path, routes)
            if routed is not None and routed[1] == service and isinstance(item, dict):
                paths[path] = _through_gateway(_secure(copy.deepcopy(item)))
    for item in paths.values():
        _secure(item)
    components["securitySchemes"] = {SCHEME: SECURITY_SCHEME}
    missing = sorted(set(routes.values()) - set(specs))
    if missing:
        out.setdefault("info", {})["x-missing-services"] = missing
    return document_problems(apply_tags(out))


class MergedOpenAPI:
    """Fetches, caches and merges the documents; ``endpoint`` serves ``/openapi.json``."""

    def __init__(self, app: FastAPI, routes: dict[str, str] = ROUTES) -> None:
        self.app, self.routes = app, routes
        self.services = sorted(set(routes.values()))
        self.specs: dict[str, dict[str, Any]] = {}
        self._body: bytes | None = None
        self._last_try = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self, service: str) -> bool:
        url = self.app.state.settings.service_url(service).rstrip("/") + "/openapi.json"
        try:
            resp = await self.app.state.http.get(url, timeout=FETCH_TIMEOUT)
            if resp.status_code == 200:
                spec = resp.json()
                if isinstance(spec, dict) and "paths" in spec:
                    self.specs[service] = spec
                    return True
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("openapi of %s not available yet: %s", service, exc)
        return False

    async def refresh(self) -> None:
        """Fetch the documents still missing."""
        async with self._lock:
            missing = [s for s in self.services if s not in self.specs]
            if not missing:
                return
            self._last_try = time.monotonic()
            if any(await asyncio.gather(*(self._fetch(s) for s in missing))):
                self._body = None

    async def warm(self, attempts: int = 60, delay: float = 1.0) -> None:
        """At start: keep trying until every service has answered (services may start after the gateway)."""
        for _ in range(attempts):
            await self.refresh()
            if len(self.specs) == len(self.services):
                return
            await asyncio.sleep(delay)

    async def document(self) -> bytes:
        if len(self.specs) < len(self.services) and time.monotonic() - self._last_try > RETRY_SECONDS:
            await self.refresh()
        if self._body is None:
            merged = merge(self.app.openapi(), self.specs, self.routes)
            self._body = json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode()
        return self._body

    async def endpoint(self, request: Request) -> Response:
        return Response(await self.document(), media_type="application/json")
