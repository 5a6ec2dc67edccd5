"""What the registry asks of funds: opening a 公示 notice for a registration, an exit or a monitoring case step.

``POST {funds}/internal/notices`` (service token)::

    {"kind": "registration" | "exit" | "monitoring", "region_code": <village code>, "title": str, "requester": "registry",
     "requester_ref": str,
     "items": [{"ref": "<household id>", "name": <head name>, "id_number": <full>, "phone": <full or null>,
                "address": str, "attribute": code, "main_cause": code, "members": int}],
     "region_name": <village name>, "days": int (optional: the period; funds' minimum and default otherwise)}

A monitoring case's items also carry ``household_no``, ``village``, ``case_no``, ``category`` and
``category_label``, ``risk_types`` and ``risk_type_labels``.
    → 201 {"id": int, "starts_at", "ends_at", "content_hash", "status": "open"}

When the notice closes, funds emits ``notice.closed`` to the registry (see lifecycle/handlers.py; a monitoring
notice's payload also lists its upheld ``objections``).
"""

from typing import Any

from shared.http import ServiceClient


async def open_notice(services: ServiceClient, *, kind: str, region_code: str, title: str, requester_ref: str,
                      items: list[dict[str, Any]], region_name: str | None = None, days: int | None = None
                      ) -> dict[str, Any]:
    body = {"kind": kind, "region_code": region_code, "title": title, "requester": "registry",
            "requester_ref": requester_ref, "items": items}
    if region_name:
        body["region_name"] = region_name       # saves funds asking us back for it
    if days is not None:
        body["days"] = days
    return await services.request("POST", "funds", "/internal/notices", json=body)
