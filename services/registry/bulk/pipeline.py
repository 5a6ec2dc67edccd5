"""Importing households from a table (CONTRACT §4 Bulk, §9 columns): the one path the job, the CLI and the
benchmark run.

Three stages: reading (pass one, in a thread: every file-level problem is found before anything is written),
checking (pass two) and writing, the last two interleaved: a household is handed to a writer as soon as it has
been checked, and checking goes on while PostgreSQL loads the previous batch.

A table read a column at a time (a CSV, or a file of one sheet) has its clean households checked by the column
lane (columnar.py), a chunk at a time in a thread while the chunk before is written; every other row is checked by
the row checker (checker.py), in slices on the event loop, which also explains every error. Both apply one rule
table (``columns``); either way the same file gives the same households, members, counts and errors. Writing is
repository.py's; one audit-chain row records the whole import with its counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.bulk import column_reader, columnar
from services.registry.bulk import columns as col
from services.registry.bulk.checker import Batch, Checker, RawFile, RawTable
from services.registry.bulk.columns import CellError
from services.registry.bulk.reader import MAX_EMPTY_RUN, FileRejected, kind_of, tables
from services.registry.bulk.repository import Outcome, Progress, Writer, bump_given, villages_in
from services.registry.households.scope import Scope
from shared import audit
from shared.db import driver
from shared.pii import PiiCipher

__all__ = ["RawFile", "Outcome", "Progress", "FileRejected", "read", "import_content", "gc_paused",
           "MAX_STORED_ERRORS", "CONNECTIONS"]

log = logging.getLogger(__name__)
MAX_STORED_ERRORS = 1_000
CHUNK_ROWS = 20_000
WRITERS = 2               # batches loaded at once, each on its own connection (PostgreSQL uses a core for each)
CONNECTIONS = 1 + WRITERS  # what an import takes from its session's pool at once: the session's and the writers'


def read(content: bytes, filename: str, *, on_rows: Callable[[int], None] | None = None,
         columns: bool = True) -> RawFile:
    """Pass one: every data row of the file, in order. Raises FileRejected for the file as a whole.

    ``on_rows`` hears how many rows have been read so far, every 5,000 (it is called from this thread).

    A CSV is read a column at a time when it can be (column_reader.read_csv), and so is a file of one table once
    read; its rows are split between the two lanes once the importer's villages are known (``_import``).
    ``columns=False`` leaves every row to the row checker (what the benchmark compares the lanes with)."""
    if columns and kind_of(filename, content) == "csv" and (table := column_reader.read_csv(content)) is not None:
        if on_rows is not None:
            on_rows(table.total)
        return RawFile([], table.total, table)
    found = []
    total = 0
    for t in tables(content, filename):
        rows: list[tuple[int, Sequence]] = []
        while block := list(islice(t.rows, 5_000)):
            rows += block
            if on_rows is not None and len(block) == 5_000:
                on_rows(total + len(rows))
        total += len(rows)
        found.append(RawTable(t.sheet, t.columns, rows))
    if total == 0:
        raise FileRejected("no data rows below the header (empty rows are skipped; a run of "
                           f"{MAX_EMPTY_RUN:,} empty rows ends the table)")
    if columns and len(found) == 1 and (table := column_reader.from_table(found[0])) is not None:
        return RawFile([], total, table)
    return RawFile(found, total)


def given_numbers(raw: RawFile, villages: set[str]) -> dict[str, int]:
    """Per village, the highest household number of it that the file gives as a 户编号 (<村代码><4-5 digits>)."""
    highest: dict[str, int] = {}

    def offer(village: str, number: int) -> None:
        if village in villages and number > highest.get(village, 0):
            highest[village] = number

    def see(key: Any) -> None:
        try:
            key = key.strip() if type(key) is str else col.plain(key, "household_no")   # Excel numbers as text
        except CellError:
            return
        if len(key) in (16, 17) and key[12:].isdecimal():
            offer(key[:12], int(key[12:]))

    source = raw.tables
    if raw.columns is not None and raw.columns.table is not None:
        source = [raw.columns.table]     # cells as read (a number is a key too)
    elif raw.columns is not None:       # a CSV's keys written as numbers a column at a time, the others one by one
        numbered, others = columnar.numbered_keys(raw.columns)
        for village, number in numbered:
            offer(village, number)
        for key in others:
            see(key)
    for table in source:
        at = table.columns["household_no"]
        for _, cells in table.rows:
            if at < len(cells):
                see(cells[at])
    return highest


# --- the whole path --------------------------------------------------------------------------------------------

_gc_pauses = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while an import runs: it would walk the hundreds of thousands of live row
    tuples again and again (about 40% of the import's CPU). Reference counting still frees everything the import
    drops; nested or concurrent imports in one process restore collection when the last one ends."""
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


async def import_content(session: AsyncSession, *, content: bytes, filename: str, scope: Scope, cipher: PiiCipher,
                         progress: Progress | None = None, audit_ref: str = "-", raw: RawFile | None = None
                         ) -> Outcome:
    """Read, check and write ``content`` in the session's transaction (the caller commits); one audit row.

    Raises FileRejected when the file as a whole cannot be read (before anything is written)."""
    with gc_paused():
        return await _import(session, content=content, filename=filename, scope=scope, cipher=cipher,
                             progress=progress, audit_ref=audit_ref, raw=raw)


async def _import(session: AsyncSession, *, content: bytes, filename: str, scope: Scope, cipher: PiiCipher,
                  progress: Progress | None, audit_ref: str, raw: RawFile | None) -> Outcome:
    """Reading comes first, in a thread (a FileRejected, for the file as a whole, is raised before anything is
    written). A table read a column at a time is then planned as a whole (each row's household, persons listed twice),
    and its households are checked a chunk at a time in a thread (numpy and pyarrow, mostly outside the GIL) while
    the chunk before is written. The other rows go to the row checker, which hands on households as soon as they
    are complete: it runs in slices on the event loop while it waits for PostgreSQL to load the last batch (a
    checking thread of pure Python would fight the loop for the GIL and slow every COPY round trip)."""
    started = time.perf_counter()
    if raw is None:
        raw = await asyncio.to_thread(read, content, filename)
    read_seconds = time.perf_counter() - started
    conn = await driver(session)
    villages = await villages_in(conn, scope)
    columns, plan = raw.columns, None
    checking = 0.0
    if columns is not None:     # the clean households a column at a time (a chunk at a time), the rest the row way
        t = time.perf_counter()
        try:
            plan = await asyncio.to_thread(columnar.plan, columns)
        except Exception:   # noqa: BLE001 - a surprise in the lane never fails an import: every row the row way
            log.exception("columnar check failed; the file is checked row by row")
        checking = time.perf_counter() - t
    # the row checker's rows are known once the column lane has taken its households
    checker = Checker(raw if columns is None else RawFile([], raw.total), villages=villages, scope=scope, cipher=cipher)
    writer = Writer(checker=checker, scope=scope, progress=progress)
    engine = (await session.connection()).engine
    batches: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=WRITERS)

    async def produce() -> None:
        nonlocal checking
        if columns is not None:
            rest: list[np.ndarray] = []
            chunks = plan.chunks(WRITERS * CHUNK_ROWS, first=CHUNK_ROWS // 4) if plan is not None else []
            for g0, g1 in chunks:     # each chunk checked while the one before is written
                t = time.perf_counter()
                try:
                    clean, left = await asyncio.to_thread(columnar.partition, columns, plan, g0, g1,
                                                          villages=villages, scope=scope)
                except Exception:   # noqa: BLE001 - the households not yet written go the row way
                    log.exception("columnar check failed; the rest of the file is checked row by row")
                    rest.append(plan.rows(g0, plan.households))
                    break
                finally:
                    checking += time.perf_counter() - t
                rest.append(left)
                for a, b in columnar.slices(clean, CHUNK_ROWS):
                    await batches.put(columnar.column_batch(clean, a, b, cipher, columns.sheet))
            at = np.sort(np.concatenate(rest)) if plan is not None else np.arange(columns.total)
            checker.raw = RawFile([columns.rest(at)], raw.total)
        for item in checker.steps(batch_rows=CHUNK_ROWS):
            if item is None:
                await asyncio.sleep(0)
            else:
                await batches.put(item)
        for _ in range(WRITERS):
            await batches.put(None)

    async def consume() -> None:
        async with engine.connect() as own:      # a pooled connection of its own, outside the caller's transaction
            loader = (await own.get_raw_connection()).driver_connection
            try:
                while (item := await batches.get()) is not None:
                    await writer.write(loader, item)
            except BaseException:
                # stopped mid-batch (another task failed, or a crash): the connection may be inside a transaction
                # that nothing will end; it is closed, never handed to the next import (whose batches would then
                # be savepoints holding the village counters' locks)
                loader.terminate()
                with contextlib.suppress(Exception):
                    await own.invalidate()
                raise

    # every village's counter past the numbers the file gives before anything is written: a number handed out to a
    # household without one can then never be one that a later batch brings
    highest = given_numbers(raw, villages)
    if highest:
        async with engine.connect() as own:
            await bump_given((await own.get_raw_connection()).driver_connection, highest)
    tasks = [asyncio.create_task(produce()), *(asyncio.create_task(consume()) for _ in range(WRITERS))]
    try:
        for done in asyncio.as_completed(tasks):
            await done        # the first failure (checking or writing) stops the others
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    outcome = writer.finish()
    outcome.timings = {"read": read_seconds, "check": checking + checker.seconds, **outcome.timings,
                       "total": time.perf_counter() - started}
    await audit.record(session, actor=scope.actor, action="households.import", entity="import_job",
                       entity_id=audit_ref, diff={"filename": filename[:255], "region_lo": scope.lo,
                                                  **outcome.summary(), "errors": outcome.errors_total,
                                                  "seconds": round(outcome.timings["total"], 3)})
    return outcome
