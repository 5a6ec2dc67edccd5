"""What the registry reads from the gateway: staff users (to check a helper before assigning them)."""

from typing import Any

from shared.http import ServiceClient, UpstreamProblem


async def user(services: ServiceClient, user_id: int) -> dict[str, Any] | None:
    """``{id, username, display_name, role, region_code, active, ...}`` or None when there is no such user."""
    try:
        return await services.request("GET", "gateway", f"/internal/users/{user_id}")
    except UpstreamProblem as problem:
        if problem.status == 404:
            return None
        raise
