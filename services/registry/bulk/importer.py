"""Importing households from a table (CONTRACT §4 Bulk, §9 columns): the one path the job, the CLI and the
benchmark run.

Three stages: reading (pass one, in a thread: every file-level problem is found before anything is written),
checking (pass two) and writing, the last two interleaved — a household is handed to the writer as soon as its
last row has been checked, and checking goes on in slices while PostgreSQL loads the previous batch.

A CSV's clean households take the columnar lane (columnar.py: read and checked a column at a time, a chunk at a
time while the chunk before is written, without looking anything up: the uniqueness constraints do, and a batch
they refuse is written the row way); every other row is checked row by row as described here, which is also what
explains every error. Either way the same file gives the same households, members, counts and errors.

Checking:

- every row is checked like ``POST /households`` checks a member (GB 11643, enum codes or their Chinese labels,
  booleans as 是/否); a row with an error is reported and left out;
- ``户编号`` groups rows into households. Household columns (村代码, 地址, 联系电话, 属性, 致贫原因, 识别年度) may
  be repeated on every row or given once; rows that disagree make the whole household an error, and so do:
  no head or two heads among its rows, a head row with an error, more than 30 members, a village outside the
  importer's region (or not a village in the registry);
- a person (ID number) listed twice in the file: the later row is an error.

Writing (set-based; nothing is written row by row through the ORM):

- batches of whole households (about 20,000 rows) are loaded two at a time, each on a pooled connection of its
  own and committed on its own (``synchronous_commit`` off: the job's final state commits durably), so PostgreSQL
  uses a core for each while checking goes on; a crash after some batches leaves whole households, and the same
  file again matches them and creates the rest (nothing twice);
- per batch, three indexed look-ups (``unnest`` joins) find what exists: households by number (or by the file's
  own key, ``import_household_ref``) and people by the keyed digest of their ID number;
- an existing household is matched only if its head is the file's head; it is never changed by an import
  except that members it does not have yet are added. People already in another household are row errors;
  people already in the matched household are left as they are. So importing the same file again creates
  nothing;
- new households are ``pending`` (识别中), like ``POST /households``: registration goes through 公示.
  ``户编号`` of the form <村代码><4-5 digits> becomes the household number (before anything is written, each
  village's counter is moved past every such number in the file, so a number handed out, even by a batch loading
  at the same time, never collides); any other key gets the next number of its village and is remembered for
  re-imports. Counters and ids are taken outside the batch's transaction, like a sequence (two
  batches never wait for each other; a batch that fails leaves a gap);
- household ids come from the identity sequence in one call; households, members and keys are then loaded with
  COPY (``copy_records_to_table``) straight into their tables, members in the file's order (the order they are
  shown in). ID numbers and phones are encrypted (AES-GCM) and digested (HMAC) with :mod:`shared.pii` while
  the previous batch is being copied;
- a person registered concurrently through the API makes a batch's COPY fail on the uniqueness constraint (or,
  for two imports of the same people in different orders, a deadlock): that batch is rolled back and written
  again (up to three times), seeing that person; after that the job runs the import again (jobs.py);
- one audit-chain row for the whole import, with its counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, NamedTuple

import asyncpg
import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.bulk import columnar
from services.registry.bulk import columns as col
from services.registry.bulk.columns import LABEL, CellError
from services.registry.bulk.reader import MAX_EMPTY_RUN, FileRejected, kind_of, tables
from services.registry.glossary import Relation
from services.registry.households.schemas import MAX_MEMBERS
from services.registry.households.scope import Scope
from shared import audit
from shared.db import driver
from shared.idnumber import mask_phone
from shared.pii import PiiCipher

__all__ = ["RawFile", "Outcome", "FileRejected", "read", "import_content", "MAX_STORED_ERRORS", "CONNECTIONS"]

log = logging.getLogger(__name__)
MAX_STORED_ERRORS = 1_000
CHUNK_ROWS = 20_000
WRITERS = 2               # batches loaded at once, each on its own connection (PostgreSQL uses a core for each)
CONNECTIONS = 1 + WRITERS  # what an import takes from its session's pool at once: the session's and the writers'
BATCH_ATTEMPTS = 3
SLICE_ROWS = 200          # the writers resume within a few milliseconds of PostgreSQL answering
Progress = Callable[[int, int], Awaitable[None]]


# --- reading and checking -------------------------------------------------------------------------------------

class MemberRow(NamedTuple):
    row: int
    name: str
    id_number: str
    relation: str
    health: str
    labor: str
    education: str | None
    in_school: bool
    migrant_worker: bool


@dataclass(slots=True)
class HouseholdIn:
    key: str                                   # 户编号 as in the file
    sheet: str | None
    rows: list[int] = field(default_factory=list)        # every row of the household (valid or not)
    members: list[MemberRow] = field(default_factory=list)
    bad_head_row: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    field_rows: dict[str, int] = field(default_factory=dict)
    conflict: str | None = None
    village_code: str = ""
    given_no: str | None = None               # the key is a registry household number of its village
    raw: tuple | None = None                  # the household cells as first read (rows repeating them: no work)
    phone_enc: bytes | None = None


@dataclass
class RawTable:
    sheet: str | None
    columns: dict[str, int]
    rows: list[tuple[int, Sequence]]


@dataclass
class RawFile:
    """A file's data rows as read (pass one): every file-level problem has been found by now."""
    tables: list[RawTable]
    total: int
    columns: columnar.CsvColumns | None = None      # a CSV read a column at a time (its rows are not in tables)


@dataclass
class Batch:
    """Households the checker has finished (all their rows seen), ready to be written."""
    households: list[HouseholdIn]
    hmacs: dict[str, bytes]
    rows: int                                  # rows accounted for by this batch (written or reported)
    tails: dict[str, tuple]                    # member row after (id, household_id), encrypted, by ID number


@dataclass
class ColumnBatch:
    """Clean households of the columnar lane (columnar.py), ready to be written: members encrypted and digested."""
    numbers: list[str]                         # household numbers (each its village's), one per household
    villages: list[str]
    addresses: list[str]
    phones: list[str | None]
    phone_encs: list[bytes | None]
    attributes: list[str]
    main_causes: list[str]
    other_causes: list[list[str]]
    years: list[int]
    head_names: list[str]
    sizes: list[int]
    member_of: Any                             # per member: its household's position in the batch (numpy array)
    ids: list[str]                             # per member
    row_numbers: list[int]                     # per member
    member_columns: list[list]                 # the member row after household_id, a column at a time (as tails)
    rows: int


@dataclass
class Outcome:
    total: int = 0
    households_created: int = 0
    members_created: int = 0
    households_matched: int = 0
    members_unchanged: int = 0
    members_added: int = 0
    rows_failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)     # seconds per phase, for benchmarks and logs

    @property
    def errors_total(self) -> int:
        return len(self.errors)

    def summary(self) -> dict[str, int]:
        return {"rows": self.total, "households_created": self.households_created,
                "members_created": self.members_created, "households_matched": self.households_matched,
                "members_unchanged": self.members_unchanged, "members_added": self.members_added,
                "rows_failed": self.rows_failed}


def _error(errors: list, sheet: str | None, row: int, key: str, msg: str) -> None:
    item = {"row": row, "field": LABEL.get(key, key), "msg": msg}
    if sheet is not None:
        item["sheet"] = sheet
    errors.append(item)


_MEMBER_CONVERT: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("name", lambda v: col.plain(v, "name")),
    ("id_number", col.id_number),
    ("relation", lambda v: col.code(v, "relation")),
    ("health", lambda v: col.code(v, "health")),
    ("labor", lambda v: col.code(v, "labor")),
    ("education", lambda v: col.code(v, "education", optional=True)),
    ("in_school", col.flag),
    ("migrant_worker", col.flag),
)
_HOUSEHOLD_CONVERT: dict[str, Callable[[Any], Any]] = {
    "village_code": col.village, "address": lambda v: col.plain(v, "address"), "phone": col.phone,
    "attribute": lambda v: col.code(v, "attribute"), "main_cause": lambda v: col.code(v, "cause"),
    "other_causes": col.causes, "identified_year": col.year,
}
_REQUIRED_HOUSEHOLD = ("village_code", "address", "attribute", "main_cause", "identified_year")


def read(content: bytes, filename: str, *, on_rows: Callable[[int], None] | None = None) -> RawFile:
    """Pass one: every data row of the file, in order. Raises FileRejected for the file as a whole.

    ``on_rows`` hears how many rows have been read so far, every 5,000 (it is called from this thread).

    A CSV is read a column at a time when it can be (columnar.read_csv); its rows are then split between the two
    lanes once the importer's villages are known (``_import``)."""
    if kind_of(filename, content) == "csv" and (columns := columnar.read_csv(content)) is not None:
        if on_rows is not None:
            on_rows(columns.total)
        return RawFile([], columns.total, columns)
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
    return RawFile(found, total)


class Checker:
    """Pass two: checks every row and groups rows into households; a household is handed on (``emit``) as soon as
    its last row has been read, checked against the household rules, with its members' digests.

    ``errors`` and ``bad_rows`` are shared with the writer (appends only; list and set appends are atomic)."""

    def __init__(self, raw: RawFile, *, villages: set[str], scope: Scope, cipher: PiiCipher) -> None:
        self.raw, self.villages, self.scope, self.cipher = raw, villages, scope, cipher
        self.errors: list[dict[str, Any]] = []
        self.bad_rows: set[tuple[str | None, int]] = set()
        self.seconds = 0.0

    def _last_rows(self) -> dict[str, int]:
        """Each household key's last row (as a position over all tables): when it is read, the household is whole."""
        last: dict[str, int] = {}
        position = 0
        for table in self.raw.tables:
            at = table.columns["household_no"]
            # each raw cell's last position (one C-level pass), then each distinct cell read as a key
            raw_last = dict(zip(map(lambda r: r[1][at] if at < len(r[1]) else None, table.rows),
                                range(position, position + len(table.rows))))
            for raw_key, at_row in raw_last.items():
                try:
                    key = col.plain(raw_key, "household_no")
                except CellError:
                    continue
                if last.get(key, -1) < at_row:
                    last[key] = at_row
            position += len(table.rows)
        return last

    def steps(self, *, batch_rows: int | None = None, slice_rows: int = SLICE_ROWS) -> Iterator[Batch | None]:
        """Check the rows, yielding each Batch (of about ``batch_rows``, default CHUNK_ROWS) as it is ready and None
        every ``slice_rows`` rows (a chance for the event loop to move the writers on)."""
        batch_rows = batch_rows or CHUNK_ROWS
        started = time.perf_counter()
        pending: list[Batch] = []
        emit = pending.append
        errors, bad_rows = self.errors, self.bad_rows
        households: dict[str, HouseholdIn] = {}
        open_: dict[int, HouseholdIn] = {}
        seen_people: dict[str, tuple[str | None, int]] = {}
        last = self._last_rows()
        position = 0
        keyless = 0
        next_emit = batch_rows
        for table in self.raw.tables:
            cols = table.columns
            sheet = table.sheet
            width_needed = max(cols.values()) + 1
            member_cols = [(k, f, cols.get(k)) for k, f in _MEMBER_CONVERT]
            household_cols = [(k, f, cols.get(k)) for k, f in _HOUSEHOLD_CONVERT.items()]
            key_at = cols["household_no"]
            absent = width_needed                  # columns the file lacks read this always-None cell
            at = {k: cols.get(k, absent) for k, _ in _MEMBER_CONVERT}
            household_cells = itemgetter(*(cols.get(k, absent) for k in _HOUSEHOLD_CONVERT))
            fast_member = _fast_member(at)
            complete = len(cols) == len(_MEMBER_CONVERT) + len(_HOUSEHOLD_CONVERT) + 1
            pad_to = width_needed if complete else width_needed + 1     # rows reach every column they use
            for number, cells in table.rows:
                position += 1
                if position > next_emit:
                    next_emit += batch_rows
                    keyless = self._emit(emit, open_, last, position - 1, keyless)
                    self.seconds += time.perf_counter() - started
                    yield from pending
                    pending.clear()
                    started = time.perf_counter()
                elif position % slice_rows == 0:
                    self.seconds += time.perf_counter() - started
                    yield None
                    started = time.perf_counter()
                if len(cells) < pad_to:
                    cells = (*cells, *_PAD[: pad_to - len(cells)])
                raw_key = cells[key_at]
                h = households.get(raw_key) if type(raw_key) is str else None
                m = fast_member(number, cells)
                if h is not None and m is not None and household_cells(cells) == h.raw:
                    idn = m.id_number
                    if idn not in seen_people:
                        seen_people[idn] = (sheet, number)
                        h.rows.append(number)
                        h.members.append(m)
                        continue
                before = len(errors)
                if h is None:
                    try:
                        key = col.plain(raw_key, "household_no")
                    except CellError as exc:
                        _error(errors, sheet, number, "household_no", str(exc))
                        bad_rows.add((sheet, number))
                        keyless += 1
                        continue
                    h = households.get(key)
                    if h is None:
                        h = households[key] = HouseholdIn(key=key, sheet=sheet)
                        open_[id(h)] = h
                    if type(raw_key) is str:
                        households[raw_key] = h
                values: dict[str, Any] = {}
                if m is None:
                    for k, convert, i in member_cols:
                        try:
                            values[k] = convert(cells[i] if i is not None else None)
                        except CellError as exc:
                            _error(errors, sheet, number, k, str(exc))
                # household columns: usually the same cells on every row of a household; converted once
                raw_household = household_cells(cells)
                hvalues: dict[str, Any] | None = None
                if raw_household != h.raw:
                    hvalues = {}
                    for k, convert, i in household_cols:
                        raw = cells[i] if i is not None else None
                        if raw is None or (type(raw) is str and not raw.strip()):
                            continue
                        try:
                            hvalues[k] = convert(raw)
                        except CellError as exc:
                            _error(errors, sheet, number, k, str(exc))
                idn = m.id_number if m is not None else values.get("id_number")
                if idn is not None:
                    first = seen_people.get(idn)
                    if first is not None:
                        where = f"row {first[1]}" + (f" of sheet {first[0]}" if first[0] else "")
                        _error(errors, sheet, number, "id_number", f"the same person is already listed in {where}")
                    else:
                        seen_people[idn] = (sheet, number)
                h.rows.append(number)
                if len(errors) > before:
                    bad_rows.add((sheet, number))
                    if (m.relation if m is not None else values.get("relation")) == "head" and h.bad_head_row is None:
                        h.bad_head_row = number
                    continue
                if hvalues is not None:
                    if h.raw is None:
                        h.raw = raw_household
                    for k, v in hvalues.items():
                        have = h.fields.get(k)
                        if have is None:
                            h.fields[k] = v
                            h.field_rows[k] = number
                        elif have != v and h.conflict is None:
                            h.conflict = (f"rows {h.field_rows[k]} and {number} disagree on {LABEL[k]} "
                                          f"({_show(have)} / {_show(v)})")
                h.members.append(m if m is not None else MemberRow(row=number, **values))
        self._emit(emit, open_, last, position, keyless, final=True)
        self.seconds += time.perf_counter() - started
        yield from pending

    def _emit(self, emit: Callable[[Batch], None], open_: dict[int, HouseholdIn], last: dict[str, int], read: int,
              keyless: int, final: bool = False) -> int:
        """Hand on every open household whose last row has been read (all when ``final``); returns 0 (the
        keyless rows are accounted for in this batch)."""
        done = [h for h in open_.values() if final or last[h.key] < read]
        for h in done:
            del open_[id(h)]
        ok: list[HouseholdIn] = []
        rows = keyless
        for h in done:
            rows += len(h.rows)
            reason = _household_problem(h, villages=self.villages, scope=self.scope)
            if reason is not None:
                _fail(h, reason, self.errors, self.bad_rows)
                continue
            h.village_code = h.fields["village_code"]
            tail = h.key[len(h.village_code):]      # <村代码><4-5 digits> (str.isdecimal is what \d matches)
            if h.key.startswith(h.village_code) and len(tail) in (4, 5) and tail.isdecimal():
                h.given_no = h.key
            ok.append(h)
        if rows or final:
            hmacs, tails = _member_tails(ok, self.cipher)
            emit(Batch(households=ok, hmacs=hmacs, rows=rows, tails=tails))
        return 0


_PAD = (None,) * (64 + 2)
_HEAD = Relation.head.value


def _fast_member(at: dict[str, int]) -> Callable[[int, tuple], MemberRow | None]:
    """The member of a row when every cell is as expected (a label or code as is, a good ID number), else None
    (the careful path then reads the row again and says what is wrong)."""
    i_name, i_id, i_rel, i_health, i_labor, i_edu, i_school, i_migrant = (
        at["name"], at["id_number"], at["relation"], at["health"], at["labor"], at["education"], at["in_school"],
        at["migrant_worker"])
    relation, health, labor = col.EXACT["relation"], col.EXACT["health"], col.EXACT["labor"]
    education = {**col.EXACT["education"], None: None, "": None}
    flags = {**col.FLAGS, None: False}
    plain, id_number = col.plain, col.id_number

    def member(number: int, cells: tuple) -> MemberRow | None:
        try:
            return MemberRow(number, plain(cells[i_name], "name"), id_number(cells[i_id]), relation[cells[i_rel]],
                             health[cells[i_health]], labor[cells[i_labor]], education[cells[i_edu]],
                             flags[cells[i_school]], flags[cells[i_migrant]])
        except (KeyError, TypeError, CellError):
            return None

    return member


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(value) or "-"
    return str(value)[:30]


def _fail(h: HouseholdIn, reason: str, errors: list, bad_rows: set, reported: set = frozenset()) -> None:
    """Every row of ``h`` not already reported (in ``bad_rows`` or ``reported``) gets the household's reason."""
    for number in h.rows:
        if (h.sheet, number) not in bad_rows and (h.sheet, number) not in reported:
            _error(errors, h.sheet, number, "household_no", f"household {h.key} not imported: {reason}")
            bad_rows.add((h.sheet, number))


def _household_problem(h: HouseholdIn, *, villages: set[str], scope: Scope) -> str | None:
    if h.bad_head_row is not None:
        return f"its head's row {h.bad_head_row} has errors"
    if h.conflict:
        return h.conflict
    heads = [m for m in h.members if m.relation == _HEAD]
    if not heads:
        return "no member with 与户主关系 户主 (head)" if h.members else "none of its rows is valid"
    if len(heads) > 1:
        return f"{len(heads)} heads (rows {', '.join(str(m.row) for m in heads)}): exactly one member is 户主"
    missing = [LABEL[k] for k in _REQUIRED_HOUSEHOLD if k not in h.fields]
    if missing:
        return "no row gives " + "、".join(missing)
    if len(h.members) > MAX_MEMBERS:
        return f"{len(h.members)} members; a household has at most {MAX_MEMBERS}"
    village = h.fields["village_code"]
    if village not in villages or not scope.covers(village):
        return f"村代码 {village} is not a village in your region"
    return None


# --- writing ----------------------------------------------------------------------------------------------------

HOUSEHOLD_COLUMNS = ("id", "household_no", "village_code", "address", "phone_enc", "phone_masked", "attribute",
                     "main_cause", "other_causes", "identified_year", "status", "head_name", "member_count",
                     "created_by")
MEMBER_COLUMNS = ("household_id", "name", "id_hmac", "id_enc", "id_masked", "sex", "birth_date", "relation",
                  "health", "labor", "education", "in_school", "migrant_worker")

_BY_NUMBER = """
SELECT h.household_no AS key, h.id, h.household_no, h.member_count, hd.id_hmac AS head_hmac
FROM unnest($1::text[]) AS k(no) JOIN household h ON h.household_no = k.no
LEFT JOIN member hd ON hd.household_id = h.id AND hd.relation = 'head'"""
_BY_REF = """
SELECT r.ref AS key, r.village_code, h.id, h.household_no, h.member_count, hd.id_hmac AS head_hmac
FROM import_household_ref r JOIN household h ON h.id = r.household_id
LEFT JOIN member hd ON hd.household_id = h.id AND hd.relation = 'head'
WHERE (r.village_code, r.ref) IN (SELECT * FROM unnest($1::text[], $2::text[]))"""
_PEOPLE = """
SELECT m.id_hmac, m.household_id, h.household_no
FROM unnest($1::bytea[]) AS k(d) JOIN member m ON m.id_hmac = k.d JOIN household h ON h.id = m.household_id"""
_BUMP_GIVEN = """
INSERT INTO village_seq (village_code, last_no) SELECT * FROM unnest($1::text[], $2::int[])
ON CONFLICT (village_code) DO UPDATE SET last_no = GREATEST(village_seq.last_no, EXCLUDED.last_no)"""
_RESERVE = """
INSERT INTO village_seq (village_code, last_no) SELECT * FROM unnest($1::text[], $2::int[])
ON CONFLICT (village_code) DO UPDATE SET last_no = village_seq.last_no + EXCLUDED.last_no
RETURNING village_code, last_no"""
_IDS = "SELECT array_agg(nextval(pg_get_serial_sequence($2, 'id'))) FROM generate_series(1, $1)"
_GROW = """
UPDATE household SET member_count = household.member_count + t.n, version = household.version + 1,
  updated_at = now()
FROM unnest($1::bigint[], $2::int[]) AS t(id, n) WHERE household.id = t.id"""


async def villages_in(conn: asyncpg.Connection, scope: Scope) -> set[str]:
    """The villages of the registry in the importer's region."""
    rows = await conn.fetch("SELECT code FROM region WHERE level = 'village' AND code BETWEEN $1 AND $2",
                            scope.lo, scope.hi)
    return {r["code"].strip() for r in rows}


class Writer:
    """Writes batches (see the module docstring), each in its own transaction on the connection it is given, so
    two connections can load two batches at once; counts go into ``out`` once a batch has committed."""

    def __init__(self, *, checker: Checker, scope: Scope, progress: Progress | None) -> None:
        self.checker, self.scope, self.progress = checker, scope, progress
        self.out = Outcome(total=checker.raw.total)
        self.done = 0
        for k in ("lookup", "households", "members"):
            self.out.timings[k] = 0.0

    async def write(self, conn: asyncpg.Connection, batch: Batch | ColumnBatch) -> None:
        if isinstance(batch, ColumnBatch):
            written = await self._write_columns(conn, batch)
            if written is not None:
                await self._account(written, batch.rows)
                return
            batch = _materialize(batch)    # some of them exist already, or a person in them is registered
        for attempt in range(BATCH_ATTEMPTS):
            result = _Result()
            try:
                await self._write(conn, batch, result)
                break
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
                # someone registered one of these people (or households) meanwhile: again, seeing them
                if attempt == BATCH_ATTEMPTS - 1:
                    raise
        await self._account(result, batch.rows)

    async def _account(self, result: _Result, rows: int) -> None:
        out, checker = self.out, self.checker
        checker.errors.extend(result.errors)
        checker.bad_rows.update(result.bad_rows)
        for k, v in result.counts.items():
            setattr(out, k, getattr(out, k) + v)
        self.done += rows
        if self.progress:
            await self.progress(out.total, min(self.done, out.total))

    async def _write(self, conn: asyncpg.Connection, batch: Batch, result: _Result) -> None:
        timings = self.out.timings
        households, hmacs = batch.households, batch.hmacs
        t = time.perf_counter()
        given = [h.given_no for h in households if h.given_no]
        refs = [h for h in households if not h.given_no]
        existing: dict[tuple[str, str], Any] = {}
        if given:
            for r in await conn.fetch(_BY_NUMBER, given):
                existing[("no", r["key"])] = r
        if refs:
            for r in await conn.fetch(_BY_REF, [h.village_code for h in refs], [h.key for h in refs]):
                existing[(r["village_code"].strip(), r["key"])] = r
        holders = ({bytes(r["id_hmac"]): r for r in await conn.fetch(_PEOPLE, list(hmacs.values()))}
                   if hmacs else {})
        timings["lookup"] += time.perf_counter() - t

        new, adds, grow = _decide(result, households, existing=existing, holders=holders, hmacs=hmacs,
                                  reported=self.checker.bad_rows)
        t = time.perf_counter()
        household_records = ref_records = None
        if new:
            # numbers and ids outside the batch's transaction (committed at once, like a sequence): two batches
            # loading at the same time never wait for each other's village counters; a failed batch leaves a gap
            numbers = await _numbers(conn, [h for h, _ in new])
            ids = await conn.fetchval(_IDS, len(new), "household")
            household_records, ref_records = _household_records(new, ids, numbers, self.scope.actor)
            for hid, (_, members) in zip(ids, new, strict=True):
                adds.extend((hid, m) for m in members)
        # loaded in the file's order, so the ids PostgreSQL gives members follow it (the order they are shown in)
        records = [(hid, *batch.tails[m.id_number]) for hid, m in adds]
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")   # the job's final state commits durably
            if household_records:
                await conn.copy_records_to_table("household", records=household_records, columns=HOUSEHOLD_COLUMNS)
                if ref_records:
                    await conn.copy_records_to_table("import_household_ref", records=ref_records,
                                                     columns=("village_code", "ref", "household_id"))
            timings["households"] += time.perf_counter() - t
            t = time.perf_counter()
            if records:
                await conn.copy_records_to_table("member", records=records, columns=MEMBER_COLUMNS)
            if grow:
                await conn.execute(_GROW, list(grow), list(grow.values()))
        timings["members"] += time.perf_counter() - t
        result.counts["households_created"] += len(new)
        result.counts["members_created"] += len(records)
        result.counts["members_added"] += sum(grow.values())

    async def _write_columns(self, conn: asyncpg.Connection, cb: ColumnBatch) -> _Result | None:
        """New households straight from their columns, looking nothing up: the uniqueness constraints are the
        look-up. None when the row way must write them: a household number exists already (a re-import) or a person
        is registered (the COPY fails and nothing of it stays)."""
        timings = self.out.timings
        t = time.perf_counter()
        ids = await conn.fetchval(_IDS, len(cb.numbers), "household")
        actor = self.scope.actor
        household_records = list(zip(
            ids, cb.numbers, cb.villages, cb.addresses, cb.phone_encs, map(mask_phone, cb.phones), cb.attributes,
            cb.main_causes, [[c for c in others if c != main] for others, main in zip(cb.other_causes, cb.main_causes)],
            cb.years, repeat("pending"), cb.head_names, cb.sizes, repeat(actor)))
        records = list(zip(np.asarray(ids)[cb.member_of].tolist(), *cb.member_columns))
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL synchronous_commit = off")   # the job's final state commits durably
                await conn.copy_records_to_table("household", records=household_records, columns=HOUSEHOLD_COLUMNS)
                timings["households"] += time.perf_counter() - t
                t = time.perf_counter()
                await conn.copy_records_to_table("member", records=records, columns=MEMBER_COLUMNS)
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
            return None
        finally:
            timings["members"] += time.perf_counter() - t
        result = _Result()
        result.counts["households_created"] = len(ids)
        result.counts["members_created"] = len(records)
        return result

    def finish(self) -> Outcome:
        self.out.errors = self.checker.errors
        self.out.rows_failed = len(self.checker.bad_rows)
        return self.out


@dataclass
class _Result:
    """What one attempt at a batch found: kept only if it commits."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    bad_rows: set[tuple[str | None, int]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("households_created", "members_created", "households_matched", "members_unchanged", "members_added"), 0))


def _decide(result: _Result, households: list[HouseholdIn], *, existing: dict, holders: dict, hmacs: dict[str, bytes],
            reported: set) -> tuple[list[tuple[HouseholdIn, list[MemberRow]]], list[tuple[int, MemberRow]], dict[int, int]]:
    """New households (with their members but people held elsewhere), members to add to matched households."""
    errors, bad_rows, counts = result.errors, result.bad_rows, result.counts
    new: list[tuple[HouseholdIn, list[MemberRow]]] = []
    adds: list[tuple[int, MemberRow]] = []
    grow: dict[int, int] = {}
    for h in households:
        match = existing.get(("no", h.given_no) if h.given_no else (h.village_code, h.key))
        head = next(m for m in h.members if m.relation == "head")
        if match is not None:
            if match["head_hmac"] is None or bytes(match["head_hmac"]) != hmacs[head.id_number]:
                _fail(h, f"户编号 {h.key} is already household {match['household_no']}, whose head is another "
                      "person", errors, bad_rows, reported)
                continue
            counts["households_matched"] += 1
            added = 0
            for m in h.members:
                holder = holders.get(hmacs[m.id_number])
                if holder is not None and holder["household_id"] == match["id"]:
                    counts["members_unchanged"] += 1
                elif holder is not None:
                    _error(errors, h.sheet, m.row, "id_number",
                           f"already registered in household {holder['household_no']}")
                    bad_rows.add((h.sheet, m.row))
                elif match["member_count"] + added >= MAX_MEMBERS:
                    _error(errors, h.sheet, m.row, "household_no",
                           f"household {match['household_no']} already has {MAX_MEMBERS} members")
                    bad_rows.add((h.sheet, m.row))
                else:
                    added += 1
                    adds.append((match["id"], m))
            if added:
                grow[match["id"]] = added
            continue
        keep = h.members
        if holders:
            head_holder = holders.get(hmacs[head.id_number])
            if head_holder is not None:
                _error(errors, h.sheet, head.row, "id_number",
                       f"already registered in household {head_holder['household_no']}")
                bad_rows.add((h.sheet, head.row))
                _fail(h, f"its head is already registered in household {head_holder['household_no']}",
                      errors, bad_rows, reported)
                continue
            keep = []
            for m in h.members:
                holder = holders.get(hmacs[m.id_number])
                if holder is not None:
                    _error(errors, h.sheet, m.row, "id_number",
                           f"already registered in household {holder['household_no']}")
                    bad_rows.add((h.sheet, m.row))
                else:
                    keep.append(m)
        new.append((h, keep))
    return new, adds, grow


def _household_records(new: list[tuple[HouseholdIn, list[MemberRow]]], ids: list[int], numbers: dict[int, str],
                       actor: str) -> tuple[list[tuple], list[tuple]]:
    records, refs = [], []
    for hid, (h, members) in zip(ids, new, strict=True):
        f = h.fields
        head = next(m for m in members if m.relation == "head")
        phone = f.get("phone")
        main = f["main_cause"]
        records.append((hid, numbers[id(h)], h.village_code, f["address"],
                        h.phone_enc, mask_phone(phone), f["attribute"], main,
                        [c for c in f.get("other_causes", ()) if c != main], f["identified_year"], "pending",
                        head.name, len(members), actor))
        if not h.given_no:
            refs.append((h.village_code, h.key, hid))
    return records, refs


def _member_tails(households: list[HouseholdIn], cipher: PiiCipher) -> tuple[dict[str, bytes], dict[str, tuple]]:
    """Each member's ID digest, and its row but its two ids, built (and encrypted) while checking, i.e. while the
    previous batch is being copied; also each household's encrypted phone."""
    phoned = [h for h in households if h.fields.get("phone")]
    for h, enc in zip(phoned, cipher.encrypt_many([h.fields["phone"] for h in phoned], field="phone"), strict=True):
        h.phone_enc = enc
    members = [m for h in households for m in h.members]
    ids = [m.id_number for m in members]
    digests = cipher.digests(ids, field="id_number")
    birth = col.birth
    tails = {idn: (name, d, enc, f"{idn[:6]}********{idn[14:]}", _SEX[idn[16]], birth(idn), relation, health, labor,
                   education, in_school, migrant)
             for (_, name, idn, relation, health, labor, education, in_school, migrant), d, enc
             in zip(members, digests, cipher.encrypt_many(ids, field="id_number"), strict=True)}
    return dict(zip(ids, digests, strict=True)), tails


_SEX = {str(d): "male" if d % 2 else "female" for d in range(10)}


def _column_batch(clean: columnar.Clean, a: int, b: int, cipher: PiiCipher) -> ColumnBatch:
    """Households [a, b) of the columnar lane, encrypted and digested (while the previous batch is copied)."""
    starts, v, hv = clean.starts, clean.values, clean.household
    at = clean.order[starts[a]:starts[b]]
    first = clean.group[a:b]
    sizes = starts[a + 1:b + 1] - starts[a:b]
    ids = v["id_number"][at].tolist()
    names = v["name"][at].tolist()
    relations = v["relation"][at]
    birth = col.birth
    member_columns = [names, cipher.digests(ids, field="id_number"), cipher.encrypt_many(ids, field="id_number"),
                      [f"{i[:6]}********{i[14:]}" for i in ids], [_SEX[i[16]] for i in ids], [birth(i) for i in ids],
                      relations.tolist(), *(v[k][at].tolist() for k in ("health", "labor", "education", "in_school",
                                                                        "migrant_worker"))]
    phones = hv["phone"][first].tolist()
    encrypted = iter(cipher.encrypt_many([p for p in phones if p], field="phone"))
    return ColumnBatch(
        numbers=hv["household_no"][first].tolist(), villages=hv["village_code"][first].tolist(),
        addresses=hv["address"][first].tolist(), phones=phones,
        phone_encs=[next(encrypted) if p else None for p in phones], attributes=hv["attribute"][first].tolist(),
        main_causes=hv["main_cause"][first].tolist(), other_causes=hv["other_causes"][first].tolist(),
        years=hv["identified_year"][first].tolist(),
        head_names=[n for n, r in zip(names, relations.tolist(), strict=True) if r == _HEAD],
        sizes=sizes.tolist(), member_of=np.repeat(np.arange(b - a), sizes), ids=ids,
        row_numbers=clean.numbers[at].tolist(), member_columns=member_columns, rows=len(ids))


def _materialize(cb: ColumnBatch) -> Batch:
    """A column batch as the row checker would have handed it on (for the row way's writer)."""
    tails = dict(zip(cb.ids, zip(*cb.member_columns), strict=True))
    households = [HouseholdIn(key=no, sheet=None, village_code=village, given_no=no, phone_enc=enc, fields={
        "village_code": village, "address": address, "phone": phone, "attribute": attribute, "main_cause": cause,
        "other_causes": others, "identified_year": year})
        for no, village, address, phone, enc, attribute, cause, others, year in zip(
            cb.numbers, cb.villages, cb.addresses, cb.phones, cb.phone_encs, cb.attributes, cb.main_causes,
            cb.other_causes, cb.years, strict=True)]
    for i, idn, row in zip(cb.member_of.tolist(), cb.ids, cb.row_numbers, strict=True):
        name, _, _, _, _, _, relation, health, labor, education, in_school, migrant = tails[idn]
        h = households[i]
        h.rows.append(row)
        h.members.append(MemberRow(row, name, idn, relation, health, labor, education, in_school, migrant))
    return Batch(households=households, hmacs=dict(zip(cb.ids, cb.member_columns[1], strict=True)), rows=cb.rows,
                 tails=tails)


async def _numbers(conn: asyncpg.Connection, new: list[HouseholdIn]) -> dict[int, str]:
    """Household numbers for new households: the file's own where it is one, else the village's next ones (the
    villages' counters are past every number the file gives: ``given_numbers``)."""
    numbers: dict[int, str] = {}
    wanting: dict[str, list[HouseholdIn]] = {}
    for h in new:
        if h.given_no:
            numbers[id(h)] = h.given_no
        else:
            wanting.setdefault(h.village_code, []).append(h)
    if wanting:
        villages = sorted(wanting)
        rows = await conn.fetch(_RESERVE, villages, [len(wanting[v]) for v in villages])
        for r in rows:
            village = r["village_code"].strip()
            group = wanting[village]
            first = r["last_no"] - len(group) + 1
            for i, h in enumerate(group):
                numbers[id(h)] = f"{village}{first + i:04d}"
    return numbers


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

    if raw.columns is not None:       # the keys written as numbers a column at a time, the others one by one
        numbered, others = columnar.numbered_keys(raw.columns)
        for village, number in numbered:
            offer(village, number)
        for key in others:
            see(key)
    for table in raw.tables:
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
    written). A CSV read a column at a time is then planned as a whole (each row's household, persons listed twice),
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
    # the row checker's rows are known once the columnar lane has taken its households
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
                    await batches.put(_column_batch(clean, a, b, cipher))
            at = np.sort(np.concatenate(rest)) if plan is not None else np.arange(columns.total)
            checker.raw = RawFile([RawTable(None, columns.columns, columns.rows(at))], raw.total)
        for item in checker.steps():
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
            bump = (await own.get_raw_connection()).driver_connection
            await bump.execute(_BUMP_GIVEN, sorted(highest), [highest[v] for v in sorted(highest)])
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
