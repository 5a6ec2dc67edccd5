"""The demo county's past, 2014–2020, written through the services' own rules in this process.

A household's status only moves through a 公示 that ran its full term (``JINGZHUN_NOTICE_MIN_DAYS``), so a history
cannot be made through the API today. Here each move is made by the code that makes it in production, with the
funds service's clock (``services.funds.notices.service.now``) set to the day it happened:

- the registry's ``lifecycle.service.transition`` proposes (registration, exit: the exit rules checked against that
  year's income, assurances and poverty line); the funds call it makes is answered by funds' own ``open_notice``
  (:class:`InProcessFunds`), so the notice's dates and content hash are the ones funds computes;
- funds' ``close`` closes it once its term is over (audit row, ``notice.closed`` in the outbox);
- the registry's ``notice.closed`` handler applies it (the event itself, delivered later, then changes nothing:
  the household no longer waits for that notice);
- 返贫 and 清退 are ``transition`` too (they take effect at once).

Each move's ``status_change.at`` is then set to the day it happened (the code stamps ``now()``), so status
histories (贴息 by the day) read the past right. Households not in the state their history starts from (seeded
before, or touched by a person) are left alone, so a second run adds nothing. The new identifications of a few
villages are proposed with the real clock: their 公示 is open now on the public board.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from jingzhun.demo.data import COUNTY, demo_households, fate
from services.funds.notices import service as notices
from services.funds.notices.schemas import NoticeOpen
from services.registry.households import service as households
from services.registry.households.scope import scope_of
from services.registry.lifecycle import handlers, service as lifecycle
from services.registry.lifecycle.schemas import TransitionIn
from shared import pii
from shared.auth import Principal, Role
from shared.db import Database
from shared.settings import Settings


class InProcessFunds:
    """What the registry's :class:`~shared.http.ServiceClient` would ask of funds, answered by funds' own code in
    ``session`` (only ``POST /internal/notices`` is asked during a transition)."""

    def __init__(self, session, *, min_days: int) -> None:
        self.session, self.min_days = session, min_days
        self.opened: int | None = None

    async def request(self, method: str, service: str, path: str, *, json: Any = None, **_: Any) -> Any:
        if (method, service, path) != ("POST", "funds", "/internal/notices"):
            raise RuntimeError(f"the demo history does not answer {method} {service}{path}")
        notice, _ = await notices.open_notice(session=self.session, notice_in=NoticeOpen(**json),
                                              actor="svc:registry", min_days=self.min_days,
                                              region_name=json.get("region_name"))
        self.opened = notice.id
        return notices.to_opened(notice).model_dump()


_AT: ContextVar[datetime | None] = ContextVar("demo_funds_clock", default=None)


@contextlib.contextmanager
def funds_clock(at: datetime | None) -> Iterator[None]:
    """Funds' clock at ``at`` for this task only (None: the real clock), inside :func:`clock_installed`."""
    token = _AT.set(at)
    try:
        yield
    finally:
        _AT.reset(token)


@contextlib.contextmanager
def clock_installed() -> Iterator[None]:
    """Funds' clock reads :data:`_AT` (each village is lived in its own task, side by side) while the history
    is written, and the real clock when it is not set."""
    real = notices.now
    notices.now = lambda: _AT.get() or real()
    try:
        yield
    finally:
        notices.now = real


def day(year: int, month: int, dom: int) -> datetime:
    return datetime(year, month, dom, 2, 0, tzinfo=UTC)        # 10:00 in China


class History:
    def __init__(self, settings: Settings, admin_sub: str) -> None:
        self.settings = settings
        self.registry = Database(settings, "registry", pool_size=14)
        self.funds = Database(settings, "funds", pool_size=14)
        self.cipher = pii.cipher(settings)
        self.officer = Principal(sub=admin_sub, role=Role.county_admin, region=COUNTY.code, jti="demo-history",
                                 exp=0)
        self.scope = scope_of(self.officer)
        self.moves = 0

    async def close(self) -> None:
        await self.registry.close()
        await self.funds.close()

    async def _find(self, body: dict[str, Any]) -> dict[str, Any] | None:
        async with self.registry.sessionmaker() as r:
            row = (await r.execute(text(
                "SELECT id, status, pending_action FROM household WHERE village_code = :v AND address = :a"),
                {"v": body["village_code"], "a": body["address"]})).mappings().first()
        return dict(row) if row else None

    async def _date_last_move(self, r, household_id: int, at: datetime) -> None:
        await r.execute(text("UPDATE status_change SET at = :at WHERE id = (SELECT max(id) FROM status_change "
                             "WHERE household_id = :h)"), {"at": at, "h": household_id})

    async def propose(self, household_id: int, action: str, year: int, opened: datetime | None) -> None:
        """Propose through the registry; with a date, close the 公示 once its term is over and apply it."""
        async with self.registry.sessionmaker() as r, self.funds.sessionmaker() as f:
            funds = InProcessFunds(f, min_days=self.settings.notice_min_days)
            with funds_clock(opened):
                household = await households.lock_visible(r, scope=self.scope, household_id=household_id)
                await lifecycle.transition(session=r, scope=self.scope, cipher=self.cipher, services=funds,
                                           household=household, transition_in=TransitionIn(action=action, year=year))
            if opened is None:                      # open now, on the public board
                await f.commit()
                await r.commit()
                return
            closed = opened + timedelta(days=self.settings.notice_min_days, hours=1)
            with funds_clock(closed):
                notice = await notices.close(session=f, principal=self.officer, notice_id=funds.opened)
            payload = await notices.closed_payload(f, notice, outcome="closed")
            await f.commit()
            await r.commit()                        # the proposal is waiting for its notice, as in production
            await handlers.notice_closed(r, {"payload": payload, "source": "funds"}, {})
            await self._date_last_move(r, household_id, closed)
            await r.commit()
        self.moves += 1

    async def at_once(self, household_id: int, action: str, year: int, at: datetime, reason: str) -> None:
        async with self.registry.sessionmaker() as r:
            household = await households.lock_visible(r, scope=self.scope, household_id=household_id)
            await lifecycle.transition(session=r, scope=self.scope, cipher=self.cipher, services=None,
                                       household=household,
                                       transition_in=TransitionIn(action=action, year=year, reason=reason))
            await self._date_last_move(r, household_id, at)
            await r.commit()
        self.moves += 1

    async def live(self, n: int, body: dict[str, Any]) -> bool:
        """One household's history; False when it is not pending and untouched (its history is already there)."""
        found = await self._find(body)
        if found is None or found["status"] != "pending" or found["pending_action"]:
            return False
        hid, future = found["id"], fate(n, body)
        if future.registered is None:
            await self.propose(hid, "propose_registration", body["identified_year"], None)
            return True
        await self.propose(hid, "propose_registration", future.registered,
                           day(future.registered, 9 + n % 3, 1 + n % 25))
        if future.removed:
            await self.at_once(hid, "remove", future.removed, day(future.removed, 5, 20),
                               "识别不精准：家庭有城镇商品房和小汽车，经村民代表大会评议清退")
        if future.exited:
            await self.propose(hid, "propose_exit", future.exited, day(future.exited, 10, 8 + n % 20))
        if future.returned:
            await self.at_once(hid, "mark_returned", future.returned, day(future.returned, 6, 15),
                               "因病返贫：家庭主要劳动力患重病，医疗支出大")
        return True


async def seed_history(settings: Settings, *, admin_sub: str) -> int:
    """Give every demo household its past (see the module); returns how many households were given one."""
    history = History(settings, admin_sub)
    by_village: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for n, body in enumerate(demo_households()):
        by_village.setdefault(body["village_code"], []).append((n, body))

    async def village(rows: list[tuple[int, dict[str, Any]]]) -> int:
        return sum([await history.live(n, body) for n, body in rows])

    try:
        with clock_installed():
            return sum(await asyncio.gather(*(village(rows) for rows in by_village.values())))
    finally:
        await history.close()
