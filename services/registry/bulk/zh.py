"""The import's messages in Chinese (shared.i18n vocabulary): what a cadre reads in a job's errors and message, or in
the refusal of an upload. The import keeps them in English (the job row, logs, ``jingzhun import``); an answer is
in the caller's language."""

from __future__ import annotations

from shared import i18n

KEPT = "households loaded before it are kept: import the same file again to complete it (nothing is created twice)"
KEPT_ZH = "之前已载入的户保留：再导入同一文件即可补全（不会重复建档）"

MESSAGES = {
    "not a number": "不是数字",
    "a date where text was expected": "此处应填文字，填的是日期",
    "is empty": "未填写",
    "looks like a spreadsheet formula; not accepted": "像是电子表格公式，不予接受",
    "stored as a number, which loses digits: format the column as text":
        "存成了数字，会丢失位数：请把该列设为“文本”格式",
    "no member with 与户主关系 户主 (head)": "没有与户主关系为“户主”的成员",
    "none of its rows is valid": "没有一行有效",
    "the file is empty": "文件是空的",
    "the file took too long to read": "读取文件超时",
    "the CSV file is neither UTF-8 nor GB18030 (GBK) text": "CSV 文件既不是 UTF-8 也不是 GB18030（GBK）编码的文字",
    "the CSV file contains NUL bytes: it is not a text table": "CSV 文件含有 NUL 字节，不是文字表格",
    "not a valid .xlsx file (it is not a zip archive)": "不是有效的 .xlsx 文件（不是 zip 压缩包）",
    "not a valid .xlsx file (no worksheets)": "不是有效的 .xlsx 文件（没有工作表）",
    "the .xlsx file has too many parts": ".xlsx 文件的组成部分太多",
    "the .xlsx file's text table is too large": ".xlsx 文件的文字表太大",
    "the .xlsx file is encrypted (password protected): save it without a password":
        ".xlsx 文件已加密（设了密码）：请去掉密码后另存",
    "the file could not be read; nothing was imported": "文件无法读取，未导入任何内容",
    f"an internal error stopped the import; {KEPT}": f"内部错误中断了导入；{KEPT_ZH}",
    f"the import kept colliding with registrations made at the same time; {KEPT}":
        f"导入多次与同时进行的登记冲突；{KEPT_ZH}",
    f"the import stopped unexpectedly several times; {KEPT}": f"导入多次意外中断；{KEPT_ZH}",
}


def _not_imported(key: str, reason: str) -> str:
    return f"户 {key} 未导入：{i18n.message_zh(reason) or reason}"


def _listed(row: str, sheet: str | None) -> str:
    return f"同一人已填在第 {row} 行" + (f"（工作表 {sheet}）" if sheet else "")


PATTERNS = (
    (r"^household (\S+) not imported: (.*)$", _not_imported),
    (r"^the same person is already listed in row (\d+)(?: of sheet (.*))?$", _listed),
    (r"^longer than (\d+) characters$", "超过 {0} 个字"),
    (r"^unknown value (.*); use one of (\S+) \(or the codes (.*)\)$", "不认识的取值 {0}，应为 {1} 之一（或代码 {2}）"),
    (r"^(.*) is not a year between 2000 and 2100$", "{0} 不是 2000 至 2100 年之间的年份"),
    (r"^(.*) is not a 12-digit village code$", "{0} 不是 12 位的村代码"),
    (r"^(.*) is not a village code$", "{0} 不是村一级的行政区划代码"),
    (r"^(.*) is not an 11-digit mobile number$", "{0} 不是 11 位手机号码"),
    (r"^(.*) is not 是 or 否$", "{0} 应填“是”或“否”"),
    (r"^its head's row (\d+) has errors$", "户主所在的第 {0} 行有错误"),
    (r"^rows (\d+) and (\d+) disagree on (\S+) \((.*) / (.*)\)$", "第 {0} 行与第 {1} 行的{2}不一致（{3} / {4}）"),
    (r"^(\d+) heads \(rows (.*)\): exactly one member is 户主$", "有 {0} 位户主（第 {1} 行）：每户只能有一位户主"),
    (r"^no row gives (.*)$", "没有一行填写{0}"),
    (r"^(\d+) members; a household has at most (\d+)$", "{0} 名成员：每户最多 {1} 名"),
    (r"^村代码 (\S+) is not a village in your region$", "村代码 {0} 不是您辖区内的村"),
    (r"^户编号 (\S+) is already household (\S+), whose head is another person$",
     "户编号 {0} 已是户 {1}，其户主是另一人"),
    (r"^already registered in household (\S+)$", "已登记在户 {0}"),
    (r"^household (\S+) already has (\d+) members$", "户 {0} 已有 {1} 名成员"),
    (r"^its head is already registered in household (\S+)$", "其户主已登记在户 {0}"),
    (r"^wrong columns(?: in sheet (.*))?: missing (.*)\. The columns are: (.*)$",
     lambda sheet, missing, expected: f"列不对{f'（工作表 {sheet}）' if sheet else ''}：缺少 {missing}。"
                                      f"应有的列：{expected}"),
    (r"^wrong columns: no (?:sheet has a )?header row with the import columns\. The columns are: (.*)$",
     "列不对：找不到有导入所需各列的表头行。应有的列：{0}"),
    (r"^more than ([\d,]+) data rows: split the file$", "数据超过 {0} 行：请拆分文件"),
    (r"^malformed CSV near line (\d+): (.*)$", "CSV 文件第 {0} 行附近格式不对：{1}"),
    (r"^the \.xlsx part (.*) expands (\d+) times: refused as a possible zip bomb$",
     ".xlsx 的组成部分 {0} 解压后膨胀 {1} 倍，疑为压缩炸弹，拒收"),
    (r"^the \.xlsx file expands to more than (\d+) MB: refused$", ".xlsx 文件解压后超过 {0} MB，拒收"),
    (r"^not a readable \.xlsx file \((\w+)\)$", "无法读取的 .xlsx 文件（{0}）"),
    (r"^the \.xlsx sheet (.*) cannot be read \((\w+)\)$", "无法读取 .xlsx 工作表 {0}（{1}）"),
    (r"^no data rows below the header \(empty rows are skipped; a run of ([\d,]+) empty rows ends the table\)$",
     "表头下面没有数据行（空行会跳过；连续 {0} 个空行视为表格结束）"),
)
