"""What funds asks of the registry:

- households' eligibility for a payment (``POST {registry}/internal/households/eligibility``
  ``{household_ids (≤ 25,000), region_code}``) → ``{"items": [{"household_id", "exists", "eligible", "reasons",
  "status", "village_code", "in_region", "household_no", "head_name", "head_id_number", "phone",
  "payout_account", ...}]}``, one item per id asked, in full (funds pays and masks itself);
- a person by ID number (``GET {registry}/api/v1/persons/by-id-number/{id}``) → ``{household_id, member_id}`` or 404;
- whether a region exists (``GET {registry}/api/v1/regions/{code}``, service token) → ``{code, name, level, ...}``
  or 404;
- households' status history (``POST {registry}/internal/households/status-history`` ``{household_ids}``) →
  ``{"items": [{"household_id", "intervals": [{"status", "from", "to"}]}]}``, ``from`` inclusive, ``to`` exclusive
  or null (still so); days before the first interval have no status;
- 一码申报 reports left open more than two days (``GET {registry}/internal/monitoring/overdue-reports?prefix=``) →
  ``{"items": [{"id", "village_code", "created_at"}]}``, oldest first, at most 1,000."""

from collections.abc import Iterable
from typing import Any

from shared.http import ServiceClient, UpstreamProblem

HISTORY_CHUNK = 50_000      # ids per call (the registry takes up to 100,000)
ELIGIBILITY_CHUNK = 20_000  # ids per call (the registry takes up to 25,000)


async def eligibility(services: ServiceClient, household_ids: Iterable[int], region_code: str
                      ) -> dict[int, dict[str, Any]]:
    """household id → the registry's item, for every id asked (unknown ones with ``exists`` false)."""
    ids = sorted(set(household_ids))
    found: dict[int, dict[str, Any]] = {}
    for at in range(0, len(ids), ELIGIBILITY_CHUNK):
        answer = await services.request("POST", "registry", "/internal/households/eligibility", json={
            "household_ids": ids[at:at + ELIGIBILITY_CHUNK], "region_code": region_code})
        found.update((int(i["household_id"]), i) for i in answer["items"])
    return found


async def person(services: ServiceClient, id_number: str) -> dict[str, Any] | None:
    try:
        return await services.request("GET", "registry", f"/api/v1/persons/by-id-number/{id_number}")
    except UpstreamProblem as exc:
        if exc.status == 404:
            return None
        raise


async def region(services: ServiceClient, code: str) -> dict[str, Any] | None:
    try:
        return await services.request("GET", "registry", f"/api/v1/regions/{code}")
    except UpstreamProblem as exc:
        if exc.status == 404:
            return None
        raise


async def status_history(services: ServiceClient, household_ids: Iterable[int]
                         ) -> dict[int, list[tuple[str, str, str | None]]]:
    """household id → [(status, "YYYY-MM-DD" from, to or None)] in order, for the known ones, a chunk of ids per
    call (the dates as sent: a county's households are many, and SQL reads them as they are)."""
    ids = sorted(set(household_ids))
    out: dict[int, list[tuple[str, str, str | None]]] = {}
    for i in range(0, len(ids), HISTORY_CHUNK):
        answer = await services.request("POST", "registry", "/internal/households/status-history",
                                        json={"household_ids": ids[i:i + HISTORY_CHUNK]})
        for item in answer["items"]:
            out[int(item["household_id"])] = [(x["status"], x["from"], x["to"]) for x in item["intervals"]]
    return out


async def overdue_reports(services: ServiceClient, prefix: str) -> list[dict[str, Any]]:
    """Open reports overdue in the subtree of the significant digits ``prefix`` ("" for every region)."""
    answer = await services.request("GET", "registry", "/internal/monitoring/overdue-reports",
                                    params={"prefix": prefix})
    return answer["items"]
