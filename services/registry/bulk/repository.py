"""Writing an import (set-based; nothing is written row by row through the ORM): the SQL and the COPY.

- batches of whole households (about 20,000 rows) are loaded two at a time, each on a pooled connection of its
  own and committed on its own (``synchronous_commit`` off: the job's final state commits durably), so PostgreSQL
  uses a core for each while checking goes on; a crash after some batches leaves whole households, and the same
  file again matches them and creates the rest (nothing twice);
- per batch of the row checker, three indexed look-ups (``unnest`` joins) find what exists: households by number
  (or by the file's own key, ``import_household_ref``) and people by the keyed digest of their ID number; a batch
  of the column lane looks nothing up: the uniqueness constraints do, and a batch they refuse is written the row
  way;
- an existing household is matched only if its head is the file's head; it is never changed by an import
  except that members it does not have yet are added. People already in another household are row errors;
  people already in the matched household are left as they are. So importing the same file again creates
  nothing;
- new households are ``pending`` (识别中), like ``POST /households``: registration goes through 公示.
  ``户编号`` of the form <村代码><4-5 digits> becomes the household number (before anything is written, each
  village's counter is moved past every such number in the file, so a number handed out, even by a batch loading
  at the same time, never collides); any other key gets the next number of its village and is remembered for
  re-imports. Counters and ids are taken outside the batch's transaction, like a sequence (two batches never wait
  for each other; a batch that fails leaves a gap);
- household ids come from the identity sequence in one call; households, members and keys are then loaded with
  COPY (``copy_records_to_table``) straight into their tables, members in the file's order (the order they are
  shown in);
- a person registered concurrently through the API makes a batch's COPY fail on the uniqueness constraint (or,
  for two imports of the same people in different orders, a deadlock): that batch is rolled back and written
  again (up to three times), seeing that person; after that the job runs the import again (jobs.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import asyncpg
import numpy as np

from services.registry.bulk.checker import Batch, Checker, HouseholdIn, MemberRow, error, fail
from services.registry.bulk.columnar import ColumnBatch, materialize
from services.registry.households.schemas import MAX_MEMBERS
from services.registry.households.scope import Scope
from shared.idnumber import mask_phone

BATCH_ATTEMPTS = 3
Progress = Callable[[int, int], Awaitable[None]]


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


async def bump_given(conn: asyncpg.Connection, highest: dict[str, int]) -> None:
    """Each village's counter past the highest household number of it that the file gives (committed at once, before
    anything is written: a number handed out to a household without one can never be one a later batch brings)."""
    villages = sorted(highest)
    await conn.execute(_BUMP_GIVEN, villages, [highest[v] for v in villages])


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
            batch = materialize(batch)    # some of them exist already, or a person in them is registered
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
                fail(h, f"户编号 {h.key} is already household {match['household_no']}, whose head is another "
                      "person", errors, bad_rows, reported)
                continue
            counts["households_matched"] += 1
            added = 0
            for m in h.members:
                holder = holders.get(hmacs[m.id_number])
                if holder is not None and holder["household_id"] == match["id"]:
                    counts["members_unchanged"] += 1
                elif holder is not None:
                    error(errors, h.sheet, m.row, "id_number",
                           f"already registered in household {holder['household_no']}")
                    bad_rows.add((h.sheet, m.row))
                elif match["member_count"] + added >= MAX_MEMBERS:
                    error(errors, h.sheet, m.row, "household_no",
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
                error(errors, h.sheet, head.row, "id_number",
                       f"already registered in household {head_holder['household_no']}")
                bad_rows.add((h.sheet, head.row))
                fail(h, f"its head is already registered in household {head_holder['household_no']}",
                      errors, bad_rows, reported)
                continue
            keep = []
            for m in h.members:
                holder = holders.get(hmacs[m.id_number])
                if holder is not None:
                    error(errors, h.sheet, m.row, "id_number",
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
