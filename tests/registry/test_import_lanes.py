"""The column lane of an import (bulk/columnar.py) changes how fast a CSV is imported, never what is imported:
the same file gives the same households, members, counts and row errors whether its clean households are checked
a column at a time or every row goes through the row checker."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import numpy as np
import pyarrow as pa
import pytest

from services.registry.bulk import column_reader, columnar, pipeline, repository
from services.registry.bulk import columns as col
from services.registry.households.scope import Scope, bounds
from shared import pii
from shared.db import Database, asyncpg_dsn, database_name
from shared.testing import auth
from tests.conftest import COUNTY, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, household, member
from tests.registry.test_import import HEADER, csv_bytes, family, new_id, rows_only

SCOPE = Scope(*bounds(COUNTY), helper=None, full_pii=True, actor="t", role="county_admin")
HOUSEHOLDS = """SELECT household_no, village_code, address, phone_masked, attribute, main_cause, other_causes,
  identified_year, status, head_name, member_count FROM household ORDER BY household_no"""
MEMBERS = """SELECT h.household_no, m.name, m.id_hmac, m.id_masked, m.sex, m.birth_date, m.relation, m.health, m.labor,
  m.education, m.in_school, m.migrant_worker FROM member m JOIN household h ON h.id = m.household_id
  ORDER BY h.household_no, m.id"""


def mixed_file(registered: str | None) -> list[list]:
    """Mostly clean households, and one of each thing the row checker has to explain or normalize."""
    rnd = random.Random(5)
    rows: list[list] = []
    for i in range(60):
        rows += family(f"{VILLAGE}{i + 1:04d}", size=1 + i % 4, labels=bool(i % 3))
    bad = family(f"{VILLAGE}0101")
    bad[1][9] = bad[1][9][:17] + ("0" if bad[1][9][17] != "0" else "1")      # wrong check character
    lower = family(f"{VILLAGE}0102")
    lower[2][9] = " " + lower[2][9].lower() + " "                            # normalized by the row checker
    two_heads = family(f"{VILLAGE}0103")
    two_heads[1][10] = "户主"
    no_head = family(f"{VILLAGE}0104")
    no_head[0][10] = "之子"
    differing = family(f"{VILLAGE}0105")
    differing[2][2] = "另一个地址"
    given_once = family(f"{VILLAGE}0106")
    for r in given_once[1:]:
        r[2:8] = ["", "", "", "", "", ""]
    duplicate = family(f"{VILLAGE}0107")
    duplicate[2][9] = rows[4][9]                                             # a person of a clean household
    formula = family(f"{VILLAGE}0108")
    formula[1][8] = "=HYPERLINK(\"x\")"
    unknown = family(f"{VILLAGE}0109")
    unknown[1][11] = "很好"
    elsewhere = family(f"{VILLAGE}0110", village="640122999999")
    keyed = family("第七户")                                                 # not a household number: numbered
    spaced_key = family(f" {VILLAGE}0111")
    held = family(f"{VILLAGE}0112")
    if registered:
        held[1][9] = registered                                              # registered through the API first
    extra = [rows[0][:8] + ["新成员", new_id(), "之子", "健康", "普通劳动力", "小学", "是", "否"]]
    rows[1:1] = extra                                                        # household 0001 again, further down
    tail = [*bad, *lower, *two_heads, *no_head, *differing, *given_once, *duplicate, *formula, *unknown, *elsewhere,
            *keyed, *spaced_key, *held]
    rnd.shuffle(tail)
    return rows[:30] + [[""] * 16] + rows[30:] + tail


async def snapshot(settings) -> tuple[list, list]:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        return ([tuple(r) for r in await conn.fetch(HOUSEHOLDS)], [tuple(r) for r in await conn.fetch(MEMBERS)])
    finally:
        await conn.close()


async def reset(settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        await conn.execute("TRUNCATE member, import_household_ref, village_seq, household CASCADE")
    finally:
        await conn.close()


async def run(settings, content: bytes, filename: str = "x.csv") -> pipeline.Outcome:
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as session:
            outcome = await pipeline.import_content(session, content=content, filename=filename, scope=SCOPE,
                                                    cipher=pii.cipher(settings))
            await session.commit()
        return outcome
    finally:
        await db.close()



def spy_columns(monkeypatch) -> list[int]:
    """Households written by the column lane, batch by batch."""
    written: list[int] = []
    original = repository.Writer._write_columns

    async def spy(self, conn, cb):
        result = await original(self, conn, cb)
        written.append(result.counts["households_created"] if result is not None else 0)
        return result

    monkeypatch.setattr(repository.Writer, "_write_columns", spy)
    return written


@pytest.mark.parametrize("held", [False, True], ids=["fresh", "a-person-held-elsewhere"])
async def test_both_lanes_import_a_mixed_file_alike(settings, registry, token, regions, monkeypatch, held):
    """With a person of a clean household already registered, the whole columnar batch fails its COPY and is
    written the row way: that way too gives the same result."""
    registered = new_id()
    body = household(village=OTHER_VILLAGE, members=[member("head"), member("spouse", id_number=registered)])
    content = csv_bytes(mixed_file(registered if held else None))
    results = {}
    for lane in ("rows", "columns"):
        await reset(settings)
        r = await registry.post("/api/v1/households", json=body, headers=auth(token()))
        assert r.status_code == 201, r.text
        with monkeypatch.context() as m:
            written = spy_columns(m)
            if lane == "rows":
                rows_only(m)
            first = await run(settings, content)
            again = await run(settings, content)            # a re-import: every household is matched
        results[lane] = (first.summary(), sorted((e["row"], e["field"], e["msg"]) for e in first.errors),
                         again.summary(), await snapshot(settings))
        # the clean households took the column lane, once; the re-import matched them the row way
        assert written == ([] if lane == "rows" else [0, 0] if held else [60, 0])
    assert results["columns"] == results["rows"]
    summary, errors, again, (households, members) = results["columns"]
    assert summary["households_created"] == 69 and again["households_created"] == 0
    assert again["members_created"] == again["members_added"] == 0 and again["households_matched"] == 69
    assert len(households) == 70 and sum(h[-1] for h in households) == len(members)
    assert len(errors) >= 11


async def test_a_person_registered_before_the_copy_sends_the_batch_the_row_way(settings, registry, token, regions,
                                                                               monkeypatch):
    """The column lane looks up no people: the uniqueness constraint does. A person registered through the API
    after the file was checked makes the batch's COPY fail; the row way then writes it, reporting that person."""
    rows = [r for i in range(10) for r in family(f"{VILLAGE}{i + 101:04d}")]
    taken = rows[4]
    original = repository.Writer._write_columns
    calls = 0

    async def registered_meanwhile(self, conn, cb):
        nonlocal calls
        calls += 1
        r = await registry.post("/api/v1/households", json=household(members=[
            member("head"), member("spouse", id_number=taken[9])]), headers=auth(token()))
        assert r.status_code == 201, r.text
        return await original(self, conn, cb)

    monkeypatch.setattr(repository.Writer, "_write_columns", registered_meanwhile)
    outcome = await run(settings, csv_bytes(rows))
    assert calls == 1
    assert [(e["row"], e["field"]) for e in outcome.errors] == [(6, "身份证号")], outcome.errors
    assert outcome.errors[0]["msg"].startswith("already registered in household ")
    assert outcome.households_created == 10 and outcome.members_created == 29 and outcome.rows_failed == 1
    households, members = await snapshot(settings)
    assert len(households) == 11 and len(members) == 29 + 2


@pytest.mark.parametrize("content", [
    "\n".join([",".join(HEADER), *(",".join(map(str, r)) for r in family(f"{VILLAGE}0001")), "a,b"]).encode(),
    "\n".join([",".join(HEADER), '"多行\n地址"' + "," * 15]).encode(),
    b"",
])
def test_files_the_columnar_reader_cannot_take_are_read_row_by_row(content):
    assert column_reader.read_csv(content) is None


def test_row_numbers_are_the_spreadsheets():
    """A title row above the header, an empty row between households and blank lines at the end, as Excel and
    editors save them."""
    rows = family(f"{VILLAGE}0001") + [[""] * 16] + family(f"{VILLAGE}0002")
    text = "标题：2016年建档立卡花名册\n" + csv_bytes(rows).decode() + "\r\n\n"
    data = column_reader.read_csv(text.encode())
    assert data is not None and data.numbers.tolist() == [3, 4, 5, 7, 8, 9]
    assert [cells[9] for _, cells in data.rest(np.array([0, 5])).rows] == [rows[0][9], rows[6][9]]


async def test_a_surprise_in_the_columnar_check_never_fails_an_import(settings, registry, token, regions, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the column lane")

    monkeypatch.setattr(columnar, "partition", broken)
    rows = [r for i in range(5) for r in family(f"{VILLAGE}{i + 1:04d}")]
    outcome = await run(settings, csv_bytes(rows))
    assert outcome.households_created == 5 and outcome.members_created == 15 and not outcome.errors


async def test_a_surprise_in_a_later_chunk_sends_only_the_households_not_yet_written_the_row_way(
        settings, registry, token, regions, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 6)        # chunks of about 12 rows (the first of one household)
    real, calls = columnar.partition, 0

    def third_fails(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("a bug in the column lane")
        return real(*args, **kwargs)

    monkeypatch.setattr(columnar, "partition", third_fails)
    rows = [r for i in range(12) for r in family(f"{VILLAGE}{i + 1:04d}")]
    outcome = await run(settings, csv_bytes(rows))
    assert calls == 3 and not outcome.errors
    assert outcome.households_created == 12 and outcome.members_created == 36
    households, members = await snapshot(settings)
    assert [h[0] for h in households] == [f"{VILLAGE}{i + 1:04d}" for i in range(12)] and len(members) == 36
    again = await run(settings, csv_bytes(rows))
    assert again.households_created == 0 and again.members_created == 0 and again.households_matched == 12


@pytest.mark.parametrize("key", ["name", "address"])
def test_text_the_columnar_lane_takes_as_written_is_what_the_row_checker_keeps(key):
    samples = ["马建国", "马", " 马", "马 ", "=1+1", "-马", "+马", "@马", "马\u3000", "\u3000马", "\xa0马", "马\u2028",
               "阿依古丽·买买提", "李(小)", "马）", "#1", "买买提 艾力", "马\x01国", "马\t国", "A1",
               "x" * col.MAX_TEXT[key], "x" * (col.MAX_TEXT[key] + 1), "宁夏回族自治区银川市贺兰县欣荣村3组12号"]

    def not_taken(value):
        raise col.CellError("left to the converter")

    taken, _ = columnar._converted(pa.array(samples), not_taken, kept=col.PLAIN_AS_WRITTEN,
                                   kept_length=col.MAX_TEXT[key])
    for sample, as_written in zip(samples, taken.tolist(), strict=True):
        if as_written:
            assert col.plain(sample, key) == sample, sample
    assert sum(taken) == 9       # the common names and addresses do take the fast path


def test_a_file_that_stops_being_utf8_after_its_first_lines_is_read_row_by_row(monkeypatch):
    # only the head is decoded up front (header, delimiter); pyarrow checks the rest, and any doubt is the row way's
    monkeypatch.setattr(column_reader, "HEADER_CHARS", 300)
    head = csv_bytes([r for i in range(10) for r in family(f"{VILLAGE}{i + 1:04d}")])
    assert len(head) > 4 * 300 and column_reader.read_csv(head) is not None
    tail = "\n".join(",".join(map(str, r)) for r in family(f"{VILLAGE}0011")).encode("gb18030")
    assert column_reader.read_csv(head + tail) is None


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "tab"])
def test_bom_gb18030_and_tab_separated_files_are_read_alike(encoding):
    rows = family(f"{VILLAGE}0001") + family(f"{VILLAGE}0002", labels=False)
    if encoding == "tab":
        content = "\n".join("\t".join(map(str, r)) for r in [HEADER, *rows]).encode()
    else:
        content = csv_bytes(rows, encoding=encoding)
    plain, other = column_reader.read_csv(csv_bytes(rows)), column_reader.read_csv(content)
    assert other is not None and other.columns == plain.columns
    assert [c.to_pylist() for c in other.cells] == [c.to_pylist() for c in plain.cells]
    assert other.numbers.tolist() == plain.numbers.tolist() == list(range(2, 8))


JUNK = ["", " ", "　", "x", "=1+1", "-", "户主", "之子", "head", "否", "是", "健康", "1", "2016", "2016年", "13951234567",
        "139-5123-4567", "640122999999", VILLAGE, "因病", "因病、缺资金", "\t", "a\x01b"]


def mutated_file(seed: int) -> list[list]:
    """Clean households with random cells replaced by plausible and implausible values."""
    rnd = random.Random(seed)
    rows = [r for i in range(40) for r in family(f"{VILLAGE}{i + 1:04d}", size=1 + i % 4, labels=bool(i % 2))]
    for _ in range(25):
        r = rnd.choice(rows)
        at = rnd.randrange(16)
        if at == 9 and rnd.random() < 0.5:
            r[9] = rnd.choice([r[9].lower(), f" {r[9]}", r[9][:17], rnd.choice(rows)[9]])   # spellings, duplicates
        elif at == 0 and rnd.random() < 0.5:
            r[0] = rnd.choice([f"{r[0]} ", f"{VILLAGE}{rnd.randrange(1, 45):04d}", "第一户"])
        else:
            r[at] = rnd.choice(JUNK)
    return rows


@pytest.mark.parametrize("seed", range(6))
async def test_both_lanes_agree_on_randomly_damaged_files(settings, registry, token, regions, monkeypatch, seed):
    if seed % 2:        # small batches: the column lane's plan is then checked in many chunks
        monkeypatch.setattr(pipeline, "CHUNK_ROWS", 8)
    content = csv_bytes(mutated_file(seed))
    results = {}
    for lane in ("rows", "columns"):
        await reset(settings)
        with monkeypatch.context() as m:
            if lane == "rows":
                rows_only(m)
            outcome = await run(settings, content)
        results[lane] = (outcome.summary(), sorted((e["row"], e["field"], e["msg"]) for e in outcome.errors),
                         await snapshot(settings))
    assert set(results["columns"][1]) ^ set(results["rows"][1]) == set()
    assert results["columns"] == results["rows"]
    assert results["columns"][0]["households_created"] > 0 and results["columns"][1]


@pytest.mark.parametrize("lane", ["rows", "columns"])
async def test_a_household_without_a_number_never_takes_one_a_later_batch_brings(settings, registry, token, regions,
                                                                                 monkeypatch, lane):
    """Batches load two at a time: the household numbered by its village's counter must not get 0001 while the
    batch bringing household 0001 is still on its way (that batch would then be refused)."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 3)
    if lane == "rows":
        rows_only(monkeypatch)
    rows = family("第一户") + family(f"{VILLAGE}0001") + family(f"{VILLAGE}0003")
    outcome = await run(settings, csv_bytes(rows))
    assert not outcome.errors and outcome.households_created == 3
    households, _ = await snapshot(settings)
    assert [h[0] for h in households] == [f"{VILLAGE}0001", f"{VILLAGE}0003", f"{VILLAGE}0004"]


async def test_a_writer_stopped_mid_batch_never_hands_on_an_open_transaction(settings, registry, token, regions,
                                                                             monkeypatch):
    """One writer fails while the other is inside its batch's transaction: that connection is closed, not pooled
    with the transaction open (the next import's batches would become savepoints of it, holding the village
    counters' locks, and wait forever)."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 6)
    rows = [r for i in range(40) for r in family(f"{VILLAGE}{i + 1:04d}")]
    copy = asyncpg.Connection.copy_records_to_table
    calls = 0

    class Crash(Exception):
        pass

    async def slow_then_crash(self, table, *, records, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 1:                          # the first writer is in the middle of a COPY
            async def slowly():
                for i, record in enumerate(records):
                    if i == 1:
                        await asyncio.sleep(0.5)
                    yield record
            return await copy(self, table, records=slowly(), **kwargs)
        if calls == 2:
            raise Crash                         # while the second fails
        return await copy(self, table, records=records, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "copy_records_to_table", slow_then_crash)
    loaders: set = set()
    write = repository.Writer.write

    async def seen(self, conn, batch):
        loaders.add(conn)
        return await write(self, conn, batch)

    monkeypatch.setattr(repository.Writer, "write", seen)
    db = Database(settings, "registry")
    try:
        with pytest.raises(Crash):
            async with db.sessionmaker() as session:
                await pipeline.import_content(session, content=csv_bytes(rows), filename="x.csv", scope=SCOPE,
                                              cipher=pii.cipher(settings))
        monkeypatch.setattr(asyncpg.Connection, "copy_records_to_table", copy)
        assert len(loaders) == 2 and all(c.is_closed() for c in loaders)    # both writers stopped: none pooled
        async with db.sessionmaker() as session:          # the same pool
            outcome = await asyncio.wait_for(pipeline.import_content(
                session, content=csv_bytes(rows), filename="x.csv", scope=SCOPE, cipher=pii.cipher(settings)), 30)
            await session.commit()
    finally:
        await db.close()
    assert outcome.households_created + outcome.households_matched == 40 and not outcome.errors
    households, members = await snapshot(settings)
    assert len(households) == 40 and len(members) == 120
