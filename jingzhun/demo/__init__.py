"""The demo county (``jingzhun up --demo``): 贺兰县, Ningxia, 2014–2020.

Two parts. :mod:`jingzhun.demo.api` seeds through the public API at the gateway as the bootstrap administrator,
exactly as a client would (regions, users, fund sources, allocations, poverty lines, households with helpers,
incomes, assurances and measures). :mod:`jingzhun.demo.history` then gives the households their past — 公示
closed years ago, exits year by year to 2020, a few 返贫 and 清退 — through the services' own rules in this
process with funds' clock set to each day, and leaves a few new identifications in a 公示 open now.
:mod:`jingzhun.demo.data` holds the tables and each household's :func:`~jingzhun.demo.data.fate`.

Every step is idempotent and ``jingzhun up`` runs the seed once per data dir (a marker file), so a second start
adds nothing. To seed more: write one ``seed_<thing>(api)`` step returning a count and add it to :data:`STEPS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from jingzhun.demo.api import (Api, SeedError, seed_allocations, seed_fund_sources, seed_households,
                               seed_poverty_lines, seed_projects, seed_regions, seed_users)
from jingzhun.demo.data import (ALLOCATIONS, BATCHES, COUNTY, DEMO_PASSWORD, FUND_SOURCES, POVERTY_LINES, PROJECTS, REGIONS,
                                TOWNSHIPS, USERS, VILLAGES, YEAR, DemoRegion, Fate, demo_households, fate)
from shared.settings import Settings

__all__ = ["ALLOCATIONS", "BATCHES", "COUNTY", "DEMO_PASSWORD", "FUND_SOURCES", "POVERTY_LINES", "PROJECTS", "REGIONS", "STEPS",
           "TOWNSHIPS", "USERS", "VILLAGES", "YEAR", "Api", "DemoRegion", "Fate", "SeedError", "demo_households",
           "fate", "seed", "seed_async"]

STEPS = (
    ("regions", seed_regions),
    ("users", seed_users),
    ("fund_sources", seed_fund_sources),
    ("allocations", seed_allocations),
    ("projects", seed_projects),
    ("poverty_lines", seed_poverty_lines),
    ("households", seed_households),
)


async def seed_async(base_url: str, *, username: str, password: str | None, settings: Settings | None = None,
                     log: Callable[[str], None] = print, should_stop: Callable[[], bool] = lambda: False,
                     transport: httpx.AsyncBaseTransport | None = None,
                     run_jobs: bool = False) -> dict[str, int] | None:
    """Run every step (the history too when ``settings`` says where the databases are); returns what each
    created, or None when ``should_stop`` interrupted it. ``run_jobs``: no registry worker is running, so the
    demo's import job is run here by the worker's own job function."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, transport=transport) as client:
        api = Api(client)
        await api.login(username, password)
        summary: dict[str, int] = {}
        for name, step in STEPS:
            if should_stop():
                return None
            try:
                summary[name] = await step(api)
            except httpx.HTTPError as exc:
                raise SeedError(f"{name}: {type(exc).__name__}: {exc}") from None
            log(f"demo {name}: {summary[name]} created")
        if settings is not None:
            if should_stop():
                return None
            from jingzhun.demo.history import seed_history
            from shared.problems import Problem
            me = await api.get("/api/v1/auth/me")
            try:
                summary["histories"] = await seed_history(settings, admin_sub=me["sub"])
            except Problem as exc:
                raise SeedError(f"histories: {exc.status} {exc.title}: {exc.detail}") from None
            log(f"demo histories: {summary['histories']} households given their past")
            from jingzhun.demo.batches import seed_batches
            try:
                summary["batches"] = await seed_batches(api, settings, admin_sub=me["sub"])
            except Problem as exc:
                raise SeedError(f"batches: {exc.status} {exc.title}: {exc.detail}") from None
            log(f"demo batches: {summary['batches']} paid by the bank")
            if should_stop():
                return None
            from jingzhun.demo.monitoring import seed_monitoring
            try:
                summary["monitoring"] = await seed_monitoring(api, settings, run_jobs=run_jobs)
            except Problem as exc:
                raise SeedError(f"monitoring: {exc.status} {exc.title}: {exc.detail}") from None
            log(f"demo monitoring: {summary['monitoring']} 防返贫监测 cases")
        return summary


def seed(base_url: str, **kwargs) -> dict[str, int] | None:
    """:func:`seed_async` for a caller without an event loop (``jingzhun up``)."""
    return asyncio.run(seed_async(base_url, **kwargs))
