"""What funds asks of the registry: whether a region exists (``GET {registry}/api/v1/regions/{code}``, service
token) → ``{code, name, level, ...}`` or 404."""

from typing import Any

from shared.http import ServiceClient, UpstreamProblem


async def region(services: ServiceClient, code: str) -> dict[str, Any] | None:
    try:
        return await services.request("GET", "registry", f"/api/v1/regions/{code}")
    except UpstreamProblem as exc:
        if exc.status == 404:
            return None
        raise
