"""The import function itself (services/registry/bulk/pipeline.py), as the job, ``jingzhun import`` and the
benchmark call it: hundreds of households at once, a stop midway, a person registered while a batch loads."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from shared.db import Database, asyncpg_dsn, database_name
from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE
from tests.registry.test_import import count, csv_bytes, family, rows_only, xlsx

ROOT = Path(__file__).resolve().parents[2]


async def test_a_few_hundred_rows_through_the_import_function(settings, registry, token, regions):
    """The function the job, the CLI and the benchmark share, on 300 households."""
    from services.registry.bulk.pipeline import import_content
    from services.registry.households.scope import Scope, bounds
    from shared import pii
    rows = [r for i in range(300) for r in family(f"{VILLAGE}{i + 1:04d}", size=1 + i % 4)]
    seen: list[tuple[int, int]] = []

    async def progress(total: int, done: int) -> None:
        seen.append((total, done))

    lo, hi = bounds(COUNTY)
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as session:
            outcome = await import_content(session, content=csv_bytes(rows), filename="x.csv",
                                           scope=Scope(lo=lo, hi=hi, helper=None, full_pii=True, actor="t",
                                                       role="county_admin"), cipher=pii.cipher(settings),
                                           progress=progress)
            await session.commit()
    finally:
        await db.close()
    assert outcome.households_created == 300 and outcome.members_created == len(rows) and not outcome.errors
    assert seen[-1] == (len(rows), len(rows)) and seen[0][1] <= seen[-1][1]
    assert await count(settings, "SELECT sum(member_count) FROM household") == len(rows)
    assert await count(settings, "SELECT count(*) FROM household h WHERE head_name <> "
                                 "(SELECT name FROM member m WHERE m.household_id = h.id AND relation = 'head')") == 0


def test_cli_import_with_a_progress_bar(settings, tmp_path):
    asyncio.run(_regions(settings))
    path = tmp_path / "村有册.xlsx"
    path.write_bytes(xlsx(family(f"{VILLAGE}0001") + family(f"{VILLAGE}0002", size=2)
                          + family(f"{OTHER_VILLAGE}0001", village=OTHER_VILLAGE)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINGZHUN_")}
    env.update(JINGZHUN_DATABASE_URL=settings.database_url, JINGZHUN_DB_PREFIX=settings.db_prefix,
               JINGZHUN_DATA_DIR=str(settings.data_dir), JINGZHUN_REDIS_URL=settings.redis_url)
    done = subprocess.run([sys.executable, "-m", "jingzhun", "import", str(path), "--region", TOWNSHIP],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "importing [" in done.stderr and "8 / 8 rows" in done.stderr
    assert "2 households and 5 members created" in done.stdout
    assert f"村代码 {OTHER_VILLAGE} is not a village in your region" in done.stdout
    again = subprocess.run([sys.executable, "-m", "jingzhun", "import", str(path), "--region", TOWNSHIP],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 households and 0 members created; 2 households already there" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00junk")
    failed = subprocess.run([sys.executable, "-m", "jingzhun", "import", str(bad), "--region", TOWNSHIP],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and "bad.csv not imported" in failed.stderr


async def _regions(settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        for code, name, level, parent in ((COUNTY, "贺兰县", "county", None), (TOWNSHIP, "洪广镇", "township", COUNTY),
                                          (OTHER_TOWNSHIP, "金贵镇", "township", COUNTY),
                                          (VILLAGE, "欣荣村", "village", TOWNSHIP),
                                          (OTHER_VILLAGE, "银河村", "village", OTHER_TOWNSHIP)):
            await conn.execute("INSERT INTO region (code, name, level, parent_code, rural_population, version) "
                               "VALUES ($1, $2, $3, $4, 1000, 1)", code, name, level, parent)
    finally:
        await conn.close()


async def test_an_import_stopped_midway_is_completed_by_running_it_again(settings, registry, token, regions,
                                                                           monkeypatch):
    """Batches commit on their own (two at a time): a crash after some of them leaves whole households, and the
    same file again adds the rest, creating nothing twice."""
    from services.registry.bulk import pipeline
    from services.registry.households.scope import Scope, bounds
    from shared import pii
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 40)
    rows = [r for i in range(120) for r in family(f"{VILLAGE}{i + 1:04d}", size=1 + i % 4)]
    rows += [r for i in range(30) for r in family(f"B-{i}", village=OTHER_VILLAGE, size=2)]   # numbered by us
    lo, hi = bounds(COUNTY)
    scope = Scope(lo=lo, hi=hi, helper=None, full_pii=True, actor="t", role="county_admin")

    class Crash(Exception):
        pass

    batches = 0

    async def crash_after_three(total: int, done: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise Crash

    db = Database(settings, "registry")
    try:
        with pytest.raises(Crash):
            async with db.sessionmaker() as session:
                await pipeline.import_content(session, content=csv_bytes(rows), filename="x.csv", scope=scope,
                                              cipher=pii.cipher(settings), progress=crash_after_three)
        kept = await count(settings, "SELECT count(*) FROM household")
        assert 0 < kept < 150
        assert await count(settings, "SELECT count(*) FROM household WHERE member_count <> "
                                     "(SELECT count(*) FROM member m WHERE m.household_id = household.id)") == 0
        async with db.sessionmaker() as session:
            outcome = await pipeline.import_content(session, content=csv_bytes(rows), filename="x.csv", scope=scope,
                                                    cipher=pii.cipher(settings))
            await session.commit()
    finally:
        await db.close()
    assert not outcome.errors, outcome.errors[:3]
    assert outcome.households_matched == kept and outcome.households_created == 150 - kept
    assert outcome.members_created + outcome.members_unchanged == len(rows)
    assert await count(settings, "SELECT count(*) FROM household") == 150
    assert await count(settings, "SELECT count(*) FROM member") == len(rows)
    assert await count(settings, "SELECT sum(member_count) FROM household") == len(rows)
    assert await count(settings, "SELECT count(DISTINCT ref) FROM import_household_ref") == 30
    assert await count(settings, "SELECT count(*) FROM import_household_ref") == 30


async def test_a_person_registered_while_a_batch_loads_makes_that_batch_load_again(settings, registry, token,
                                                                                   regions, monkeypatch):
    """The row way (the column lane's counterpart is in test_import_lanes.py): between a batch's look-ups and its
    COPY someone registers one of its people through the API: the COPY fails on the uniqueness of the person, the
    batch is written again seeing them (a row error), the rest is imported."""
    from services.registry.bulk import pipeline, repository
    rows_only(monkeypatch)
    from services.registry.households.scope import Scope, bounds
    from shared import pii
    from tests.registry.conftest import household, member
    rows = [r for i in range(10) for r in family(f"{VILLAGE}{i + 101:04d}")]   # the API's household is 0001
    taken = rows[4]                                  # the spouse of the second household
    numbering = repository._numbers
    calls = 0

    async def register_meanwhile(conn, new):
        nonlocal calls
        calls += 1
        if calls == 1:
            r = await registry.post("/api/v1/households", json=household(members=[
                member("head"), member("spouse", id_number=taken[9])]), headers=auth(token()))
            assert r.status_code == 201, r.text
        return await numbering(conn, new)

    monkeypatch.setattr(repository, "_numbers", register_meanwhile)
    lo, hi = bounds(COUNTY)
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as session:
            outcome = await pipeline.import_content(
                session, content=csv_bytes(rows), filename="x.csv", cipher=pii.cipher(settings),
                scope=Scope(lo=lo, hi=hi, helper=None, full_pii=True, actor="t", role="county_admin"))
            await session.commit()
    finally:
        await db.close()
    assert calls == 2
    assert [(e["row"], e["field"]) for e in outcome.errors] == [(6, "身份证号")], outcome.errors
    assert outcome.errors[0]["msg"].startswith("already registered in household ")
    assert outcome.households_created == 10 and outcome.members_created == 29 and outcome.rows_failed == 1
    assert await count(settings, "SELECT count(*) FROM member") == 29 + 2
