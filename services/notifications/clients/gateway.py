"""What notifications reads from the gateway: the active officers whose scope covers a region."""

from __future__ import annotations

from dataclasses import dataclass

from shared.http import ServiceClient

OFFICER_ROLES = ("county_admin", "township_officer", "village_cadre")


@dataclass(frozen=True)
class Officer:
    user_id: str
    role: str
    region_code: str


async def officers_covering(services: ServiceClient, region_code: str,
                            roles: tuple[str, ...] = OFFICER_ROLES) -> list[Officer]:
    """Active officers of ``roles`` (county admins, township officers and village cadres by default) whose
    region contains ``region_code``.

    Raises ``ServiceUnavailable`` when the gateway cannot be reached and ``UpstreamProblem`` for its refusals.
    """
    users = await services.request("GET", "gateway", "/internal/users",
                                   params={"covering": region_code, "role": list(roles)})
    seen: dict[str, Officer] = {}
    for user in users or []:
        if user.get("role") in roles and user.get("active", True):
            seen.setdefault(str(user["id"]), Officer(str(user["id"]), user["role"], str(user.get("region_code", ""))))
    return list(seen.values())
