"""A cadre reads an import's errors in Chinese (the default, as for every problem), an English client in English:
the job keeps its messages once, in English, and answers them in the reader's language."""

from __future__ import annotations

from shared.testing import auth
from tests.conftest import TOWNSHIP
from tests.registry.conftest import OTHER_VILLAGE
from tests.registry.test_import import csv_bytes, family, job, run_worker, upload

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


async def test_an_imports_errors_read_in_chinese_and_in_english_when_asked(registry, token, regions, settings):
    officer = auth(token("township_officer", TOWNSHIP, sub="u-town"))
    good = family("1", labels=False)
    bad_member = family("2", labels=False)
    bad_member[1][9] = bad_member[1][9][:17] + ("0" if bad_member[1][9][17] != "0" else "1")   # wrong check char
    headless = family("3", labels=False)[1:]
    elsewhere = family("4", village=OTHER_VILLAGE, labels=False)
    bad_code = family("6", labels=False)
    bad_code[1][11] = "sick"
    duplicate = family("7", labels=False, size=2)
    duplicate[1][9] = good[1][9]
    formula = family("8", labels=False, size=2)
    formula[1][8] = "=cmd|' /C calc'!A0"
    rows = good + bad_member + headless + elsewhere + bad_code + duplicate + formula
    job_id = await upload(registry, csv_bytes(rows), "import.csv", officer)
    await run_worker(settings)
    english = await job(registry, job_id, officer)
    chinese = await job(registry, job_id, {**officer, **CHINESE})
    assert english["status"] == chinese["status"] == "done"
    line = {id(r): i + 2 for i, r in enumerate(rows)}
    en = {(e["row"], e["field"]): e["msg"] for e in english["errors"]}
    zh = {(e["row"], e["field"]): e["msg"] for e in chinese["errors"]}
    assert en.keys() == zh.keys() and len(zh) == len(english["errors"]) >= len(headless) + len(elsewhere) + 4
    assert all(zh[k] != en[k] for k in en)                       # every message has its Chinese
    assert zh[(line[id(bad_member[1])], "身份证号")] == "身份证号校验位不对，请核对是否输错"
    assert en[(line[id(bad_member[1])], "身份证号")] == "ID number check character is wrong"
    for r in headless:
        assert zh[(line[id(r)], "户编号")].endswith("未导入：没有与户主关系为“户主”的成员")
    for r in elsewhere:
        assert zh[(line[id(r)], "户编号")].endswith(f"未导入：村代码 {OTHER_VILLAGE} 不是您辖区内的村")
    assert zh[(line[id(bad_code[1])], "健康状况")].startswith("不认识的取值 'sick'，应为 ")
    assert zh[(line[id(duplicate[1])], "身份证号")] == f"同一人已填在第 {line[id(good[1])]} 行"
    assert zh[(line[id(formula[1])], "姓名")] == "像是电子表格公式，不予接受"


async def test_a_refused_file_says_why_in_the_readers_language(registry, token, regions, settings):
    officer = auth(token("township_officer", TOWNSHIP, sub="u-town"))
    job_id = await upload(registry, "户编号,姓名\n1,马文军\n".encode(), "short.csv", officer)
    await run_worker(settings)
    english = await job(registry, job_id, officer)
    chinese = await job(registry, job_id, {**officer, **CHINESE})
    assert english["status"] == chinese["status"] == "failed"
    assert english["message"].startswith("wrong columns")
    assert chinese["message"].startswith("列不对") and "缺少" in chinese["message"]


def test_every_cell_refusal_of_the_rule_table_has_its_chinese():
    """Each converter of the rule table refusing a bad cell (blank, a formula, a date, a float, too long, an
    unknown code): what it says is in the registry's vocabulary."""
    from datetime import date

    from services.registry.app import VOCABULARY
    from services.registry.bulk import columns
    from shared import i18n
    vocabulary = i18n.SHARED.merged(VOCABULARY)      # as the registry's requests have it
    refusals = set()
    for rule in (*columns.MEMBER_RULES, *columns.HOUSEHOLD_RULES):
        for bad in ("", "=SUM(A1)", date(2020, 1, 1), 6.40122e17, "x" * 300, "??", "1899", "6401221", "1234"):
            try:
                rule.convert(bad)
            except columns.CellError as exc:
                refusals.add(str(exc))
    assert len(refusals) >= 8
    missing = [m for m in refusals if i18n.message_zh(m, vocabulary) is None]
    assert missing == []
