"""Checking an import's rows (pass two, CONTRACT §4 Bulk, §9 columns): rows grouped into households, every rule of
the rule table (``columns.MEMBER_RULES``, ``columns.HOUSEHOLD_RULES``) applied, every error explained.

- every row is checked like ``POST /households`` checks a member (GB 11643, enum codes or their Chinese labels,
  booleans as 是/否); a row with an error is reported and left out;
- ``户编号`` groups rows into households. Household columns (村代码, 地址, 联系电话, 属性, 致贫原因, 识别年度) may
  be repeated on every row or given once; rows that disagree make the whole household an error, and so do:
  no head or two heads among its rows, a head row with an error, more than 30 members, a village outside the
  importer's region (or not a village in the registry);
- a person (ID number) listed twice in the file: the later row is an error.

A household is handed on as a :class:`Batch` as soon as its last row has been read, its members' ID numbers and
phones encrypted and digested (while the previous batch is being copied). The converters remember the values they
have seen (codes, villages, years, causes); a row whose cells are all as expected takes a fast path, every other row
is read again carefully to say what is wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from services.registry.bulk import columns as col
from services.registry.bulk.columns import HOUSEHOLD_RULES, LABEL, MEMBER_RULES, REQUIRED_HOUSEHOLD, CellError
from services.registry.glossary import Relation
from services.registry.households.schemas import MAX_MEMBERS
from services.registry.households.scope import Scope
from shared import idnumber
from shared.pii import PiiCipher

if TYPE_CHECKING:
    from services.registry.bulk.column_reader import Columns

SLICE_ROWS = 200          # the writers resume within a few milliseconds of PostgreSQL answering

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
    columns: Columns | None = None    # the file's one table a column at a time (its rows then not in tables)


@dataclass
class Batch:
    """Households the checker has finished (all their rows seen), ready to be written."""
    households: list[HouseholdIn]
    hmacs: dict[str, bytes]
    rows: int                                  # rows accounted for by this batch (written or reported)
    tails: dict[str, tuple]                    # member row after (id, household_id), encrypted, by ID number




def error(errors: list, sheet: str | None, row: int, key: str, msg: str) -> None:
    item = {"row": row, "field": LABEL.get(key, key), "msg": msg}
    if sheet is not None:
        item["sheet"] = sheet
    errors.append(item)


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

    def steps(self, *, batch_rows: int, slice_rows: int = SLICE_ROWS) -> Iterator[Batch | None]:
        """Check the rows, yielding each Batch (of about ``batch_rows``) as it is ready and None
        every ``slice_rows`` rows (a chance for the event loop to move the writers on)."""
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
            member_cols = [(r.key, r.convert, cols.get(r.key)) for r in MEMBER_RULES]
            household_cols = [(r.key, r.convert, cols.get(r.key)) for r in HOUSEHOLD_RULES]
            key_at = cols["household_no"]
            absent = width_needed                  # columns the file lacks read this always-None cell
            at = {r.key: cols.get(r.key, absent) for r in MEMBER_RULES}
            household_cells = itemgetter(*(cols.get(r.key, absent) for r in HOUSEHOLD_RULES))
            fast_member = _fast_member(at)
            complete = len(cols) == len(MEMBER_RULES) + len(HOUSEHOLD_RULES) + 1
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
                        error(errors, sheet, number, "household_no", str(exc))
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
                            error(errors, sheet, number, k, str(exc))
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
                            error(errors, sheet, number, k, str(exc))
                idn = m.id_number if m is not None else values.get("id_number")
                if idn is not None:
                    first = seen_people.get(idn)
                    if first is not None:
                        where = f"row {first[1]}" + (f" of sheet {first[0]}" if first[0] else "")
                        error(errors, sheet, number, "id_number", f"the same person is already listed in {where}")
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
                fail(h, reason, self.errors, self.bad_rows)
                continue
            h.village_code = h.fields["village_code"]
            if col.numbered(h.key, h.village_code):
                h.given_no = h.key
            ok.append(h)
        if rows or final:
            hmacs, tails = member_tails(ok, self.cipher)
            emit(Batch(households=ok, hmacs=hmacs, rows=rows, tails=tails))
        return 0


_PAD = (None,) * (64 + 2)
HEAD = Relation.head.value


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


def fail(h: HouseholdIn, reason: str, errors: list, bad_rows: set, reported: set = frozenset()) -> None:
    """Every row of ``h`` not already reported (in ``bad_rows`` or ``reported``) gets the household's reason."""
    for number in h.rows:
        if (h.sheet, number) not in bad_rows and (h.sheet, number) not in reported:
            error(errors, h.sheet, number, "household_no", f"household {h.key} not imported: {reason}")
            bad_rows.add((h.sheet, number))


def _household_problem(h: HouseholdIn, *, villages: set[str], scope: Scope) -> str | None:
    if h.bad_head_row is not None:
        return f"its head's row {h.bad_head_row} has errors"
    if h.conflict:
        return h.conflict
    heads = [m for m in h.members if m.relation == HEAD]
    if not heads:
        return "no member with 与户主关系 户主 (head)" if h.members else "none of its rows is valid"
    if len(heads) > 1:
        return f"{len(heads)} heads (rows {', '.join(str(m.row) for m in heads)}): exactly one member is 户主"
    missing = [LABEL[k] for k in REQUIRED_HOUSEHOLD if k not in h.fields]
    if missing:
        return "no row gives " + "、".join(missing)
    if len(h.members) > MAX_MEMBERS:
        return f"{len(h.members)} members; a household has at most {MAX_MEMBERS}"
    village = h.fields["village_code"]
    if village not in villages or not scope.covers(village):
        return f"村代码 {village} is not a village in your region"
    return None




def member_tails(households: list[HouseholdIn], cipher: PiiCipher) -> tuple[dict[str, bytes], dict[str, tuple]]:
    """Each member's ID digest, and its row but its two ids, built (and encrypted) while checking, i.e. while the
    previous batch is being copied; also each household's encrypted phone."""
    phoned = [h for h in households if h.fields.get("phone")]
    for h, enc in zip(phoned, cipher.encrypt_many([h.fields["phone"] for h in phoned], field="phone"), strict=True):
        h.phone_enc = enc
    members = [m for h in households for m in h.members]
    if not members:
        return {}, {}
    _, names, ids, *rest = map(list, zip(*members))
    columns = member_columns(cipher, ids, names, *rest)
    return dict(zip(ids, columns[1], strict=True)), dict(zip(ids, zip(*columns), strict=True))


def member_columns(cipher: PiiCipher, ids: list[str], names: list[str], *rest: list) -> list[list]:
    """The stored member row after its household id, a column at a time (both lanes write these): name, ID digest,
    ID encrypted, ID masked, sex, birth date, then ``rest`` (relation, health, labor, education, in_school,
    migrant_worker)."""
    born, mask = idnumber.born, idnumber.mask
    return [names, cipher.digests(ids, field="id_number"), cipher.encrypt_many(ids, field="id_number"),
            [mask(i) for i in ids], [SEX[i[16]] for i in ids], [born(i) for i in ids], *rest]


SEX = {str(d): "male" if d % 2 else "female" for d in range(10)}

