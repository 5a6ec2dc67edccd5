"""pydantic's messages in Chinese, by error type, with their limits; a validator's own message by the tables."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.i18n import PYDANTIC_ZH, SHARED, field_label, message_zh, pydantic_zh
from shared.idnumber import IdNumber
from shared.money import Money


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=4)
    code: str = Field(pattern=r"^\d+$")
    count: int = Field(ge=1, le=9)
    ratio: Decimal = Field(decimal_places=2)
    day: date
    at: datetime
    kind: Literal["a", "b"]
    items: list[int] = Field(min_length=1)
    flag: bool
    id_number: IdNumber
    amount: Money


def test_each_common_error_reads_in_chinese_with_its_limits():
    try:
        Strict.model_validate({"name": "x", "code": "12a", "count": 12, "ratio": "1.234", "day": "2020-02-30",
                               "at": "yesterday", "kind": "c", "items": [], "flag": "maybe",
                               "id_number": "64012219800101123", "amount": "-1", "stray": 1})
    except ValidationError as exc:
        errors = exc.errors()
    by_field = {e["loc"][0]: pydantic_zh(e) for e in errors}
    assert by_field == {
        "name": "至少 2 个字符", "code": "格式不对", "count": "应不大于 9", "ratio": "最多 2 位小数",
        "day": "应为日期（YYYY-MM-DD）", "at": "应为带时区的时间（RFC 3339）", "kind": "只能是 'a' 或 'b' 之一",
        "items": "至少 1 项", "flag": "应为是或否（true/false）", "id_number": "身份证号应为 18 位",
        "amount": "金额不能为负数", "stray": "不认识的字段"}
    assert all(e["type"] in PYDANTIC_ZH for e in errors)


def test_a_message_without_chinese_says_so_in_its_own_words():
    assert message_zh("something nobody translated", SHARED) is None
    assert pydantic_zh({"type": "value_error", "msg": "Value error, odd", "ctx": {"error": ValueError("odd")}},
                       SHARED) == "取值不正确（odd）"
    assert message_zh("resource is at version 7", SHARED) == "数据已被修改，当前版本为 7，请刷新后重试"


def test_the_label_is_the_nearest_named_part_of_the_loc():
    assert field_label(["body", "members", 0, "id_number"], SHARED.merged(
        type(SHARED)({"id_number": "身份证号", "members": "家庭成员"}))) == "身份证号"
    assert field_label(["query", "nothing"], SHARED) is None
