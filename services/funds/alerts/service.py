"""滞留滞拨 rules.

- ``idle_allocation``: an allocation with available money (> 0) none of which has moved out of available (a
  commitment to a batch or project, a 调项 out, a reversal) for more than ``JINGZHUN_IDLE_DAYS`` days, counted
  from the last such movement or, if there was none, from the allocation itself. Money coming back (a release)
  does not restart the count: what matters is that nobody has drawn on the allocation.
- ``stale_project``: a project in one status before 报账 (not rejected, not cancelled) for more than
  ``JINGZHUN_STAGE_DAYS`` days since it entered that status.
- ``overdue_report``: a villager's 一码申报 left open in the registry more than two days after it came in (asked of
  the registry: ``clients/registry.py``).

"More than N days" is in whole calendar days, China Standard Time: with N = 90 an allocation last drawn on
1 September is not yet an alert on 30 November (90 days) and is one on 1 December (91 days).

Once a day (``send_daily``) each county with alerts gets one ``funds.alerts`` event for its administrators.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.alerts import repository
from services.funds.clients import registry
from services.funds.alerts.schemas import AlertRead
from services.funds.glossary import ALERT_KIND_LABELS, PROJECT_STATUS_LABELS, PURPOSE_LABELS
from shared import audit, outbox, regions
from shared.auth import Principal
from shared.http import ServiceClient
from shared.money import from_fen
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound
from shared.settings import Settings

TOPIC = "funds.alerts"
DIGEST_ITEMS = 20          # alerts listed in a county's daily event (its counts cover them all)
CHINA = timezone(timedelta(hours=8))
_EVENT_NS = uuid.UUID("6b1f5d2e-9c1a-4f0e-8a59-3f1c2d7e4b60")


def _since(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def detail(row: Mapping[str, Any]) -> str:
    """The alert in plain Chinese, with the amount or the stage and the days."""
    since = _since(row["since"]).astimezone(CHINA).date().isoformat()
    if row["kind"] == "overdue_report":
        return f"防返贫监测一码申报（编号 {row['entity_id']}）已 {row['days']} 天未受理或说明理由（自 {since} 起）"
    if row["kind"] == "idle_allocation":
        return (f"{PURPOSE_LABELS.get(row['purpose'], row['purpose'])}资金（文号：{row['doc_no']}）可用余额 "
                f"{from_fen(row['amount']):f} 元，已 {row['days']} 天未支用（自 {since} 起）")
    return (f"项目「{row['name']}」停留在「{PROJECT_STATUS_LABELS.get(row['status'], row['status'])}」阶段已 "
            f"{row['days']} 天（自 {since} 起），预算 {from_fen(row['amount']):f} 元")


def to_read(row: Mapping[str, Any]) -> AlertRead:
    return AlertRead(kind=row["kind"], kind_label=ALERT_KIND_LABELS[row["kind"]], entity=row["entity"],
                     entity_id=row["entity_id"], region_code=row["region_code"].strip(), since=_since(row["since"]),
                     days=row["days"], detail=detail(row))


def _scope(principal: Principal, region: str | None) -> str:
    """The digits every region in the caller's chosen subtree starts with ("" for a service: everything)."""
    scope = region or principal.region
    if region is not None and not principal.covers(region):
        raise NotFound("No such region")
    return regions.prefix(scope) if scope else ""


def _sort_key(row: Mapping[str, Any]) -> tuple[datetime, str, int]:
    return _since(row["since"]), row["kind"], int(row["entity_id"])


async def overdue_reports(services: ServiceClient, *, prefix: str, as_of: date) -> list[dict[str, Any]]:
    """The registry's overdue 一码申报 of the subtree as alert rows."""
    rows = []
    for r in await registry.overdue_reports(services, prefix):
        since = datetime.fromisoformat(r["created_at"])
        rows.append({"kind": "overdue_report", "entity": "monitoring_report", "entity_id": r["id"],
                     "region_code": r["village_code"], "since": since,
                     "days": (as_of - since.astimezone(CHINA).date()).days})
    return rows


async def list_(*, session: AsyncSession, principal: Principal, settings: Settings, services: ServiceClient,
                region: str | None, limit: int, cursor: str | None) -> tuple[list[AlertRead], str | None]:
    prefix = _scope(principal, region)
    key = decode_cursor(cursor, since=datetime, kind=str, id=int)
    after = (key["since"], key["kind"], key["id"]) if key else None
    as_of = await repository.today(session)
    rows = await repository.page(session, prefix=prefix, as_of=as_of, idle_days=settings.idle_days,
                                 stage_days=settings.stage_days, limit=limit + 1, after=after)
    reports = [r for r in await overdue_reports(services, prefix=prefix, as_of=as_of)
               if after is None or _sort_key(r) > after]
    rows = sorted([*rows, *reports], key=_sort_key)[:limit + 1]      # both sorted the same way: one page of both
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor({"since": last["since"].isoformat(), "kind": last["kind"],
                                     "id": last["entity_id"]})
    return [to_read(r) for r in rows], next_cursor


def event_id(county: str, as_of: date) -> uuid.UUID:
    """The one event a county gets for a day: the same id however often, and on however many workers, it is
    computed."""
    return uuid.uuid5(_EVENT_NS, f"{TOPIC}:{county}:{as_of.isoformat()}")


def payload(county: str, as_of: date, digest: Mapping[str, Any]) -> dict[str, Any]:
    items = []
    for row in digest["items"][:DIGEST_ITEMS]:
        read = to_read(row)
        items.append({"kind": read.kind.value, "entity": read.entity, "entity_id": read.entity_id,
                      "since": read.since.isoformat(), "detail": read.detail})
    return {"region_code": county, "as_of": as_of.isoformat(), "counts": dict(sorted(digest["counts"].items())),
            "items": items}


async def send_daily(*, session: AsyncSession, settings: Settings, services: ServiceClient,
                     as_of: date | None = None) -> list[str]:
    """Write today's ``funds.alerts`` event of every county with alerts that has not had it yet; returns the
    counties written. Runs of the same day wait for one another (an advisory lock), so two runs, on one worker
    or two, write each county's event once."""
    as_of = as_of or await repository.today(session)
    await repository.lock_day(session, as_of)
    digests = await repository.by_county(session, as_of=as_of, idle_days=settings.idle_days,
                                         stage_days=settings.stage_days, top=DIGEST_ITEMS)
    for row in await overdue_reports(services, prefix="", as_of=as_of):
        digest = digests.setdefault(row["region_code"][:6] + "000000", {"counts": {}, "items": []})
        digest["counts"][row["kind"]] = digest["counts"].get(row["kind"], 0) + 1
        digest["items"] = sorted([*digest["items"], row], key=_sort_key)
    ids = {county: event_id(county, as_of) for county in digests}
    done = await repository.sent_events(session, list(ids.values()))
    written = []
    for county in sorted(digests):
        if ids[county] in done:
            continue
        body = payload(county, as_of, digests[county])
        await outbox.emit(session, topic=TOPIC, payload=body, to=["notifications"], event_id=ids[county])
        await audit.record(session, actor="system:alerts", action="alerts.daily", entity="region", entity_id=county,
                           diff={"as_of": body["as_of"], "counts": body["counts"], "event_id": str(ids[county])})
        written.append(county)
    return written
