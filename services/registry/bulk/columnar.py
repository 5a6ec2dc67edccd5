"""The column lane of an import: clean households checked a column at a time (pyarrow, numpy), every other row
handed to the row checker (checker.py), which stays the one place that explains errors. Both apply the same rule
table (``columns.MEMBER_RULES``, ``columns.HOUSEHOLD_RULES``): here each distinct value of a column goes through the
rule's converter once, and cells matching its ``as_written`` pattern are taken without a call.

A household takes this lane only when nothing about it needs explaining: its 户编号 is a registry household number
of its village (``columns.numbered``), every row repeats the same household cells, every cell converts without
error, its ID numbers are exact (``shared.idnumber.exact``) and appear nowhere else in the file, it has exactly one
head and at most MAX_MEMBERS members, and its village is in the importer's region. Any doubt sends the whole
household (every row of its key) to the row checker: this lane changes how fast, never what an import does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.registry.bulk import checker
from services.registry.bulk import columns as col
from services.registry.bulk.checker import Batch, HouseholdIn, MemberRow
from services.registry.bulk.column_reader import Columns
from services.registry.bulk.columns import HOUSEHOLD_FIELDS, HOUSEHOLD_RULES, MEMBER_RULES, CellError
from services.registry.glossary import Relation
from services.registry.households.schemas import MAX_MEMBERS
from services.registry.households.scope import Scope
from shared.idnumber import exact_column
from shared.pii import PiiCipher

_HEAD = Relation.head.value

def _converted(array: pa.Array, convert: Callable[[Any], Any], *, kept: str | None = None,
               kept_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each cell converted by the row checker's converter, applied once per distinct value: (ok, values). Cells
    matching ``kept`` (a pattern of values the converter returns unchanged; of at most ``kept_length`` characters)
    are taken as they are."""
    if kept is not None:
        as_is = pc.match_substring_regex(array, kept).to_numpy(zero_copy_only=False)
        if kept_length is not None:
            as_is &= pc.less_equal(pc.utf8_length(array), kept_length).to_numpy(zero_copy_only=False)
        values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
        ok = np.ones(len(array), dtype=bool)
        rest = np.flatnonzero(~as_is)
        if len(rest):
            ok[rest], values[rest] = _converted(array.take(pa.array(rest)), convert)
        return ok, values
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    values = np.empty(len(distinct), dtype=object)
    ok = np.ones(len(distinct), dtype=bool)
    for i, raw in enumerate(distinct):
        try:
            values[i] = convert(raw)
        except CellError:
            ok[i] = False
    index = encoded.indices.to_numpy()
    return ok[index], values[index]


@dataclass
class Clean:
    """Households of the column lane, in order of first appearance, and their member rows (positions local to the
    rows the check was given)."""
    order: np.ndarray                # member row positions, grouped by household (file order within and across)
    starts: np.ndarray               # each household's first position in ``order`` (and len(order) at the end)
    group: np.ndarray                # each household's index into ``household``
    values: dict[str, np.ndarray]    # per row: the member fields, converted
    household: dict[str, np.ndarray]  # per household key of the rows: the household fields, converted
    numbers: np.ndarray              # per row: its row number

    @property
    def households(self) -> int:
        return len(self.group)


@dataclass
class Plan:
    """What takes the whole file: each row's household (numbered in order of first appearance) and whether its key
    and its person allow the lane (the key reads as it is written; the person appears once in the file)."""
    keys: np.ndarray                 # per row: the household key as the row checker reads it
    ok: np.ndarray                   # per row: key as written, person unique
    group: np.ndarray                # per row: its household
    by_household: np.ndarray         # row positions grouped by household, file order within
    starts: np.ndarray               # each household's first index in ``by_household`` (and the end)

    @property
    def households(self) -> int:
        return len(self.starts) - 1

    def rows(self, g0: int, g1: int) -> np.ndarray:
        """Positions of the rows of households [g0, g1), in file order."""
        return np.sort(self.by_household[self.starts[g0]:self.starts[g1]])

    def chunks(self, rows: int, *, first: int | None = None) -> list[tuple[int, int]]:
        """Household ranges [g0, g1) of about ``rows`` rows each (the first of about ``first``, so that writing
        starts soon): checked one after the other while the ones before are being written."""
        return _ranges(self.starts, rows, first=first)


def _ranges(starts: np.ndarray, rows: int, *, first: int | None = None) -> list[tuple[int, int]]:
    """Ranges [a, b) of the groups that ``starts`` bounds (``starts[-1]`` the end), of about ``rows`` rows each (the
    first of about ``first``), each at least one group."""
    groups = len(starts) - 1
    out = []
    a = 0
    while a < groups:
        size = first if first is not None and not out else rows
        b = int(np.searchsorted(starts, starts[a] + size, side="left"))
        b = min(max(b, a + 1), groups)
        out.append((a, b))
        a = b
    return out


def _absent(n: int) -> pa.Array:
    return pa.array([""] * n, type=pa.string())


def plan(data: Columns) -> Plan:
    n = data.total
    cols = data.columns
    raw_key = data.cells[cols["household_no"]] if "household_no" in cols else _absent(n)
    read, keys = _converted(raw_key, lambda v: col.plain(v, "household_no"), kept=r"^[0-9]{16,17}$")
    raw_keys = raw_key.to_numpy(zero_copy_only=False)
    ok = read & (keys == raw_keys)   # a key the row checker changes is the row checker's to read
    if data.text is not None:
        ok &= data.text               # a cell that is not text: its household the row way
    # households are the keys as the row checker reads them (stripped), numbered by first appearance
    read_as = raw_key if ok.all() else pa.array(np.where(read, keys, raw_keys), type=pa.string())
    group = read_as.dictionary_encode().indices.to_numpy()
    households = int(group.max()) + 1
    firsts = np.full(households, n, dtype=np.int64)
    np.minimum.at(firsts, group, np.arange(n))
    appearance = np.empty(households, dtype=np.int64)
    appearance[np.argsort(firsts, kind="stable")] = np.arange(households)
    group = appearance[group]

    # a person listed twice (in any spelling the row checker reads as the same): both households go the row way
    ids = data.cells[cols["id_number"]] if "id_number" in cols else _absent(n)
    as_written = pc.match_substring_regex(ids, r"^[0-9]{17}[0-9X]$").to_numpy(zero_copy_only=False)
    same_source = ids
    if not as_written.all():
        normalized = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
        other = np.flatnonzero(~as_written)
        normalized[other] = [i.strip().upper() for i in normalized[other].tolist()]
        same_source = pa.array(normalized.tolist(), type=pa.string())
    same = same_source.dictionary_encode().indices.to_numpy()
    ok &= np.bincount(same)[same] == 1

    by_household = np.argsort(group, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=households))))
    return Plan(keys=keys, ok=ok, group=group, by_household=by_household, starts=starts)


def partition(data: Columns, plan: Plan, g0: int, g1: int, *, villages: set[str], scope: Scope
              ) -> tuple[Clean, np.ndarray]:
    """Split the rows of households [g0, g1): the clean households, and the positions of every other row (for the
    row checker)."""
    at = plan.rows(g0, g1)
    n = len(at)
    index = pa.array(at)
    cols = data.columns

    def cells(key: str) -> pa.Array:
        return data.cells[cols[key]].take(index) if key in cols else _absent(n)

    group = plan.group[at] - g0
    households = g1 - g0
    firsts = np.searchsorted(at, plan.by_household[plan.starts[g0:g1]])    # each household's first row, here
    ok = plan.ok[at]

    values: dict[str, np.ndarray] = {}
    for rule in MEMBER_RULES:
        if rule.key == "id_number":       # all distinct: the exact ones a column at a time, the rest the row way
            ids = cells("id_number")
            ok &= exact_column(ids)
            continue
        good, values[rule.key] = _converted(cells(rule.key), rule.convert, kept=rule.as_written,
                                            kept_length=col.MAX_TEXT.get(rule.key))
        ok &= good
    values["id_number"] = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)

    # every row of a household repeats its household cells exactly; they are converted once, from its first row
    joined = pc.binary_join_element_wise(*(cells(k) for k in HOUSEHOLD_FIELDS), "\x1f")
    cells_id = joined.dictionary_encode().indices.to_numpy()
    ok &= cells_id == cells_id[firsts[group]]
    at_first = pa.array(firsts)
    household: dict[str, np.ndarray] = {"household_no": plan.keys[at[firsts]]}
    good_household = np.bincount(group, weights=~ok, minlength=households) == 0
    for rule in HOUSEHOLD_RULES:
        convert = (lambda v: _village(v, villages, scope)) if rule.key == "village_code" else rule.convert
        good, household[rule.key] = _converted(cells(rule.key).take(at_first), convert, kept=rule.as_written,
                                               kept_length=col.MAX_TEXT.get(rule.key))
        good_household &= good

    heads = np.bincount(group, weights=(values["relation"] == _HEAD), minlength=households)
    sizes = np.bincount(group, minlength=households)
    good_household &= (heads == 1) & (sizes <= MAX_MEMBERS)
    for h in np.flatnonzero(good_household).tolist():      # 户编号 must be the village's household number
        if not col.numbered(household["household_no"][h], household["village_code"][h]):
            good_household[h] = False
    clean_row = good_household[group]
    clean_at = np.flatnonzero(clean_row)
    # households in order of first appearance (their group order), members of each in file order
    order = clean_at[np.argsort(group[clean_at], kind="stable")]
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    starts = np.concatenate(([0], bounds, [len(order)])) if len(order) else np.zeros(1, dtype=np.int64)
    return (Clean(order=order, starts=starts, group=group[order[starts[:-1]]] if len(order) else order,
                  values=values, household=household, numbers=data.numbers[at]),
            at[~clean_row])


def _village(value: Any, villages: set[str], scope: Scope) -> str:
    code = col.village(value)
    if code not in villages or not scope.covers(code):
        raise CellError("not a village in the importer's region")
    return code


def slices(clean: Clean, rows: int) -> list[tuple[int, int]]:
    """Household ranges [a, b) of about ``rows`` member rows each."""
    return _ranges(clean.starts, rows)


def numbered_keys(data: Columns) -> tuple[list[tuple[str, int]], list[str]]:
    """The distinct household keys: of those written as a number (16-17 digits), each village's highest as
    (village, number); the others as they are."""
    if "household_no" not in data.columns:
        return [], []
    distinct = pc.unique(data.cells[data.columns["household_no"]])
    digits = pc.match_substring_regex(distinct, r"^[0-9]{16,17}$")
    numbers = pc.filter(distinct, digits)
    table = pa.table({"village": pc.utf8_slice_codeunits(numbers, 0, 12),
                      "number": pc.cast(pc.utf8_slice_codeunits(numbers, 12, 17), pa.int64())})
    highest = table.group_by("village").aggregate([("number", "max")])
    return (list(zip(highest.column("village").to_pylist(), highest.column("number_max").to_pylist())),
            pc.filter(distinct, pc.invert(digits)).to_pylist())


@dataclass
class ColumnBatch:
    """Clean households of the column lane, ready to be written: members encrypted and digested."""
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
    sheet: str | None = None


def column_batch(clean: Clean, a: int, b: int, cipher: PiiCipher, sheet: str | None = None) -> ColumnBatch:
    """Households [a, b) of the column lane, encrypted and digested (while the previous batch is copied)."""
    starts, v, hv = clean.starts, clean.values, clean.household
    at = clean.order[starts[a]:starts[b]]
    first = clean.group[a:b]
    sizes = starts[a + 1:b + 1] - starts[a:b]
    ids = v["id_number"][at].tolist()
    names = v["name"][at].tolist()
    relations = v["relation"][at]
    member_columns = checker.member_columns(cipher, ids, names, relations.tolist(), *(
        v[k][at].tolist() for k in ("health", "labor", "education", "in_school", "migrant_worker")))
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
        row_numbers=clean.numbers[at].tolist(), member_columns=member_columns, rows=len(ids), sheet=sheet)


def materialize(cb: ColumnBatch) -> Batch:
    """A column batch as the row checker would have handed it on (for the row way's writer)."""
    tails = dict(zip(cb.ids, zip(*cb.member_columns), strict=True))
    households = [HouseholdIn(key=no, sheet=cb.sheet, village_code=village, given_no=no, phone_enc=enc, fields={
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

