"""台账 workbook: a summary sheet, then one sheet per allocation the way an auditor reads it (年初建帐、年中对账、
年底查帐): the header (source, 文号, purpose, region, year, amount), the opening balance, every movement of the
year in order with its counter-party and the running balances, the year's totals, the closing balance and the
check that they tie out.

Columns 收入（借方） and 支出（贷方） are the changes to the allocation's unspent balance (结余 = 可用 + 已占用):
a 下达 or a 调入 is income, a payment or a 调出 is outgo; committing money (占用) or releasing it (释放) moves it
between 可用 and 已占用 and is neither. Written with openpyxl's write-only mode, one row at a time.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

from services.funds.glossary import ENTRY_KIND_LABELS, FUND_LEVEL_LABELS, PURPOSE_LABELS
from shared.money import from_fen

CHINA = timezone(timedelta(hours=8), "CST")
MONEY_FORMAT = "#,##0.00"
HEADER = ["日期", "凭证号", "摘要", "业务类型", "关联单据", "对方单位/收款人", "收入（借方）", "支出（贷方）",
          "可用余额", "已占用余额", "已支出余额", "到户明细金额"]
SUMMARY_HEADER = ["工作表", "拨款编号", "资金来源", "来源级次", "来源文号", "下达文号", "资金用途", "所属区域", "资金年度",
                  "期初结余", "期末结余", "期初已支出", "期末已支出"]
WIDTHS = [17, 9, 36, 10, 20, 34, 14, 14, 14, 14, 14, 14]
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def mask_name(name: str | None) -> str | None:
    """张三丰 → 张**: the surname stays, the given name is hidden."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def when(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def sheet_title(allocation: Mapping[str, Any]) -> str:
    """Unique because it starts with the allocation's id; at most 31 characters, none a sheet name refuses."""
    raw = f"{allocation['id']} {PURPOSE_LABELS.get(allocation['purpose'], '')} {allocation['doc_no']}"
    return _SHEET_FORBIDDEN.sub("", ILLEGAL_CHARACTERS_RE.sub("", raw)).strip().rstrip("'")[:31].rstrip()


def counter_party(row: Mapping[str, Any], allocation: Mapping[str, Any]) -> str:
    ref = row["business_ref"] or ""
    kind = ref.partition(":")[0]
    if kind == "allocation":
        return f"{allocation['source_name']}（{FUND_LEVEL_LABELS.get(allocation['source_level'], '')}）"
    if kind == "adjustment" and row["adj_from"] is not None:
        if row["adj_to"] == allocation["id"]:
            return f"调自第 {row['adj_from']} 号拨款（{PURPOSE_LABELS.get(row['adj_from_purpose'], '')}）"
        return f"调往第 {row['adj_to']} 号拨款（{PURPOSE_LABELS.get(row['adj_to_purpose'], '')}）"
    if kind == "project" and row["project_name"] is not None:
        project = f"项目：{row['project_name']}"
        return f"{row['project_payee']}（{project}）" if row["project_payee"] else project
    if kind == "disbursement" and row["batch_title"] is not None:
        return f"到户补贴：{row['batch_title']}（第 {row['batch_id']} 批）"
    if kind == "interest_subsidy" and row["period_start"] is not None:
        return f"小额信贷贴息 {row['period_start']} 至 {row['period_end']}"
    return row["memo"] or ref


def summary_of(row: Mapping[str, Any]) -> str:
    label = ENTRY_KIND_LABELS.get(row["kind"], row["kind"])
    if row["kind"] == "reverse":
        label = f"冲正（{ENTRY_KIND_LABELS.get(row['reversed_kind'], row['reversed_kind'])}，凭证 {row['reverses_id']}）"
    return f"{label}：{row['memo']}" if row["memo"] else label


class LedgerBook:
    """Build the workbook sheet by sheet; ``save`` writes it to ``path``."""

    def __init__(self, *, region_code: str, region_name: str, year: int, full_names: bool,
                 region_names: Mapping[str, str]) -> None:
        self.wb = Workbook(write_only=True)
        self.region_code, self.region_name, self.year = region_code, region_name, year
        self.full_names, self.region_names = full_names, region_names
        self.made = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M")
        self.ws: Any = None
        self.allocation: Mapping[str, Any] | None = None
        self.pending: deque[Mapping[str, Any]] = deque()

    # --- the whole book: the summary, then the allocations in id order as their movements arrive
    def begin(self, allocations: Sequence[Mapping[str, Any]]) -> None:
        self.summary(allocations)
        self.pending = deque(allocations)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Movements in (allocation, time) order: a row of the next allocation closes the sheet before it."""
        for row in rows:
            while self.allocation is None or self.allocation["id"] != row["allocation_id"]:
                if self.allocation is not None:
                    self.close()
                self.open(self.pending.popleft())
            if row["sub"] == 0:
                self.entry(row)
            else:
                self.line(row)

    def finish(self) -> None:
        if self.allocation is not None:
            self.close()
        while self.pending:                 # money carried over that did not move this year
            self.open(self.pending.popleft())
            self.close()

    # --- cells
    def _text(self, value: Any) -> Any:
        """Text a spreadsheet would run as a formula stays text; a character no workbook may hold becomes U+FFFD."""
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            if value[:1] in ("=", "+", "-", "@"):
                cell = WriteOnlyCell(self.ws, value=value)
                cell.data_type = "s"
                return cell
        return value

    def _money(self, fen: int | None) -> Any:
        if fen is None:
            return None
        cell = WriteOnlyCell(self.ws, value=from_fen(fen))
        cell.number_format = MONEY_FORMAT
        return cell

    def _row(self, *values: Any) -> None:
        self.ws.append([v if isinstance(v, Cell) else self._text(v) for v in values])

    def _region(self, code: str) -> str:
        code = code.strip()
        name = self.region_names.get(code)
        return f"{name}（{code}）" if name else code

    @property
    def _names_note(self) -> str:
        return "户主姓名为完整信息，注意保密" if self.full_names else "户主姓名已脱敏"

    # --- the summary sheet
    def summary(self, allocations: Sequence[Mapping[str, Any]]) -> None:
        self.ws = self.wb.create_sheet("汇总")
        for i, w in enumerate((14, 9, 30, 10, 22, 22, 12, 26, 9, 14, 14, 14, 14)):
            self.ws.column_dimensions[chr(65 + i)].width = w
        self._row(f"{self.region_name}扶贫专项资金台账汇总（{self.year}年度）")
        self._row(f"区域代码 {self.region_code}；导出于 {self.made}；金额单位：元；{self._names_note}")
        self._row()
        if not allocations:
            self._row(f"{self.region_name}在 {self.year} 年度没有资金往来，也没有结转的结余：本年度无台账。")
            self.ws.close()
            return
        self._row(*SUMMARY_HEADER)
        totals = [0, 0, 0, 0]
        for a in allocations:
            figures = [a["o_available"] + a["o_committed"], a["c_available"] + a["c_committed"], a["o_spent"],
                       a["c_spent"]]
            totals = [t + f for t, f in zip(totals, figures, strict=True)]
            self._row(sheet_title(a), a["id"], a["source_name"], FUND_LEVEL_LABELS.get(a["source_level"], ""),
                      a["source_doc_no"], a["doc_no"], PURPOSE_LABELS.get(a["purpose"], a["purpose"]),
                      self._region(a["region_code"]), a["year"], *[self._money(f) for f in figures])
        self._row("合计", len(allocations), *[None] * 7, *[self._money(t) for t in totals])
        self.ws.close()

    # --- one allocation's sheet
    def open(self, a: Mapping[str, Any]) -> None:
        self.allocation = a
        self.ws = self.wb.create_sheet(sheet_title(a))
        for i, w in enumerate(WIDTHS):
            self.ws.column_dimensions[chr(65 + i)].width = w
        self.balance = [a["o_available"], a["o_committed"], a["o_spent"]]
        self.income = self.outgo = self.spent_moves = self.detail = 0
        self._row(f"{self.region_name}扶贫专项资金台账（{self.year}年度）")
        for label, value in (("资金来源", a["source_name"]),
                             ("来源级次", FUND_LEVEL_LABELS.get(a["source_level"], a["source_level"])),
                             ("来源文号", a["source_doc_no"]), ("下达文号", a["doc_no"]),
                             ("资金用途", PURPOSE_LABELS.get(a["purpose"], a["purpose"])),
                             ("所属区域", self._region(a["region_code"])), ("资金年度", a["year"])):
            self._row(label, value)
        granted = "" if a["adjustment_id"] is None else f"（由第 {a['adjustment_id']} 号调项设立）"
        self._row("下达金额", self._money(a["granted"]), f"元{granted}，拨款编号 {a['id']}，下达于 {when(a['created_at'])}")
        self._row("说明", f"导出于 {self.made}；金额单位：元；{self._names_note}；收入/支出为结余（可用＋已占用）的增减")
        self._row()
        self._row(*HEADER)
        self._row(f"{self.year}-01-01", None, "期初余额（年初建帐）", None, None, None, None, None,
                  *[self._money(b) for b in self.balance])

    def entry(self, row: Mapping[str, Any]) -> None:
        deltas = (row["d_available"], row["d_committed"], row["d_spent"])
        self.balance = [b + d for b, d in zip(self.balance, deltas, strict=True)]
        unspent = deltas[0] + deltas[1]
        self.income += max(unspent, 0)
        self.outgo += max(-unspent, 0)
        self.spent_moves += deltas[2]
        kind = ENTRY_KIND_LABELS.get(row["kind"], row["kind"])
        self._row(when(row["at"]), row["entry_id"], summary_of(row), kind, row["ref"],
                  counter_party(row, self.allocation), self._money(unspent if unspent > 0 else None),
                  self._money(-unspent if unspent < 0 else None), *[self._money(b) for b in self.balance])

    def line(self, row: Mapping[str, Any]) -> None:
        """A household line a batch's payment paid: who (household no., the head's name as the caller may see it)
        and how much; no balance of its own (its entry above carries it)."""
        name = row["head_name"] if self.full_names else mask_name(row["head_name"])
        self.detail += row["line_amount"]
        self._row(when(row["final_at"]), row["entry_id"], "　到户明细", "到户", row["bank_ref"],
                  f"户编号 {row['household_no']} {name}（{row['village_code'].strip()}）",
                  *[None] * 5, self._money(row["line_amount"]))

    def close(self) -> None:
        a = self.allocation
        closing = [a["c_available"], a["c_committed"], a["c_spent"]]
        self._row(None, None, "本年合计", None, None, None, self._money(self.income), self._money(self.outgo),
                  None, None, None, self._money(self.detail) if self.detail else None)
        self._row(f"{self.year}-12-31", None, "期末余额（年底结帐）", None, None, None, None, None,
                  *[self._money(b) for b in closing])
        opening = a["o_available"] + a["o_committed"]
        ties = opening + self.income - self.outgo == closing[0] + closing[1] and self.balance == closing
        spent_ties = a["o_spent"] + self.spent_moves == closing[2]
        self._row(None, None, "核对", None, None,
                  f"期初结余 {from_fen(opening):f} ＋ 收入 {from_fen(self.income):f} － 支出 {from_fen(self.outgo):f} ＝ "
                  f"期末结余 {from_fen(closing[0] + closing[1]):f}：{'相符' if ties else '不符'}；已支出 期初 "
                  f"{from_fen(a['o_spent']):f} ＋ 本年 {from_fen(self.spent_moves):f} ＝ 期末 {from_fen(closing[2]):f}："
                  f"{'相符' if spent_ties else '不符'}")
        self.ws.close()
        self.ws = self.allocation = None

    def save(self, path: Path) -> None:
        self.wb.save(path)
