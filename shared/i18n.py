"""The language of an answer: Chinese by default, English when ``Accept-Language`` prefers it.

The mechanism only: the request's language and the service's :class:`Vocabulary` (its field labels and the
Chinese for its own messages) are set per request by ``RequestContextMiddleware``; the problem renderer
(``shared.problems``) reads them. Pydantic's validation messages are translated by error ``type``
(:data:`PYDANTIC_ZH`); a message a validator wrote (``ValueError("...")``) by the vocabulary's tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

ZH, EN = "zh", "en"
language: ContextVar[str] = ContextVar("language", default=ZH)


@dataclass(frozen=True)
class Vocabulary:
    """What a service supplies: ``fields`` (field name → Chinese label, e.g. ``id_number`` → 身份证号),
    ``messages`` (an English message its code raises → Chinese) and ``patterns`` (regular expression over an
    English message → Chinese template using the match's groups, e.g. ``(r"found (\\d+)", "找到 {0} 个")``, or a
    function of the groups)."""

    fields: Mapping[str, str] = field(default_factory=dict)
    messages: Mapping[str, str] = field(default_factory=dict)
    patterns: tuple[tuple[str, Any], ...] = ()

    def merged(self, other: Vocabulary) -> Vocabulary:
        return Vocabulary({**self.fields, **other.fields}, {**self.messages, **other.messages},
                          (*other.patterns, *self.patterns))


_TAG = re.compile(r"^\s*([A-Za-z*]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*$")


def negotiate(header: str | None) -> str:
    """``zh`` or ``en`` for an ``Accept-Language`` value: the supported language with the highest q (ties: the
    first listed); Chinese when neither is asked for, or for ``*``."""
    best, best_q = ZH, -1.0
    for part in (header or "").split(","):
        tag, _, params = part.partition(";")
        m = _TAG.match(tag)
        if not m:
            continue
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        primary = m.group(1).lower()
        lang = ZH if primary in ("zh", "*") else EN if primary == "en" else None
        if lang and q > 0 and q > best_q:
            best, best_q = lang, q
    return best


def current() -> str:
    return language.get()


# The messages shared/ itself raises (ID numbers, money, region codes, text fields, cursors).
SHARED = Vocabulary(
    fields={"region": "地区", "region_code": "地区代码", "cursor": "翻页游标", "limit": "每页条数",
            "amount": "金额", "year": "年度", "body": "请求内容", "status": "状态"},
    messages={
        "ID number must be a string": "身份证号须为文本",
        "ID number must have 18 characters": "身份证号应为 18 位",
        "ID number must be 17 digits and a digit or X": "身份证号应为 17 位数字加一位数字或 X",
        "ID number has no real birth date": "身份证号中的出生日期不存在",
        "ID number check character is wrong": "身份证号校验位不对，请核对是否输错",
        "region code must be 12 digits": "地区代码应为 12 位数字",
        "region code is not a valid division code": "地区代码不是有效的行政区划代码",
        "region code skips a level": "地区代码跳过了一级行政区划",
        'amount must be a decimal string such as "3000.00"': "金额应写成“3000.00”这样的数字",
        "amount must be finite": "金额须为有限数字",
        'amount must be ASCII digits with at most two decimals, such as "3000.00"':
            "金额只能是数字，最多两位小数，如“3000.00”",
        "amount must not be negative": "金额不能为负数",
        "amount exceeds 1e12 yuan": "金额超过一万亿元",
        "amount has more than two decimals": "金额最多两位小数",
        "amount must be more than 0": "金额须大于 0",
        "text contains control characters": "文字中含有控制字符",
        "text contains an unpaired surrogate": "文字中含有无效字符",
        "text contains bidirectional override characters": "文字中含有文字方向控制字符",
        "text holds only invisible characters": "文字只有不可见字符",
        "One or more fields are invalid": "有字段填写不正确",
        "Request body is not valid JSON": "请求内容不是有效的 JSON",
        "cursor is not one this API issued": "翻页游标无效（不是本接口给出的）",
        "Bearer token required": "需要登录（缺少 Bearer 令牌）",
        "Token is invalid or expired": "令牌无效或已过期，请重新登录",
        "Token has been revoked": "令牌已注销，请重新登录",
        "Your role may not do this": "您的角色无权进行此操作",
        "internal endpoint": "内部接口",
        "revocation list unavailable": "令牌注销名单暂不可用",
        "send one Authorization header, not several": "只能发送一个 Authorization 请求头",
        "Idempotency-Key was already used with another request": "该 Idempotency-Key 已用于另一个请求",
        "A request with this Idempotency-Key is still being processed": "使用该 Idempotency-Key 的请求仍在处理中",
        "Idempotency-Key must be a non-empty string": "Idempotency-Key 不能为空",
        "The change conflicts with existing data": "修改与已有数据冲突",
        "A value is out of range or not allowed": "有取值超出范围或不允许",
        "A concurrent change interfered; retry": "有并发修改冲突，请重试",
        "The database is briefly unavailable; try again in a few seconds": "数据库暂时不可用，请几秒后重试",
        "An unexpected error occurred; it has been logged": "发生意外错误，已记录",
        "This event has been applied already": "该事件已处理",
        "The job queue is unreachable; try the replay again shortly": "任务队列暂不可用，请稍后重新投递",
        "No such dead letter": "没有这条死信",
        "No such resource": "没有这个资源",
        "Not Found": "没有这个资源",
        "Method Not Allowed": "不支持该请求方法",
        "required": "必填",
    },
    patterns=(
        (r"^resource is at version (\d+)$", "数据已被修改，当前版本为 {0}，请刷新后重试"),
        (r"^body exceeds (\d+) MB$", "请求内容超过 {0} MB"),
        (r"^(\w+) service is unreachable \((\w+)\)$", "{0} 服务暂不可用（{1}）"),
        (r"^(\w+) service failed: (.*)$", "{0} 服务出错：{1}"),
    ),
)

# pydantic's error types (https://docs.pydantic.dev/latest/errors/validation_errors/) → Chinese, with ``ctx``.
PYDANTIC_ZH = {
    "missing": "必填", "extra_forbidden": "不认识的字段", "none_required": "应为空",
    "string_type": "应为文字", "string_too_short": "至少 {min_length} 个字符", "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不对", "string_unicode": "应为有效的文字", "string_sub_type": "应为文字",
    "int_type": "应为整数", "int_parsing": "应为整数", "int_from_float": "应为整数，不能有小数",
    "float_type": "应为数字", "float_parsing": "应为数字", "finite_number": "应为有限数字",
    "bool_type": "应为是或否（true/false）", "bool_parsing": "应为是或否（true/false）",
    "greater_than": "应大于 {gt}", "greater_than_equal": "应不小于 {ge}", "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}", "multiple_of": "应为 {multiple_of} 的倍数",
    "enum": "只能是 {expected} 之一", "literal_error": "只能是 {expected} 之一",
    "date_type": "应为日期（YYYY-MM-DD）", "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "date_from_datetime_inexact": "应为不带时间的日期",
    "date_past": "应为过去的日期", "date_future": "应为将来的日期",
    "datetime_type": "应为带时区的时间（RFC 3339）", "datetime_parsing": "应为带时区的时间（RFC 3339）",
    "datetime_from_date_parsing": "应为带时区的时间（RFC 3339）", "datetime_past": "应为过去的时间",
    "datetime_future": "应为将来的时间", "timezone_aware": "时间应带时区", "timezone_naive": "时间不应带时区",
    "time_type": "应为时间", "time_parsing": "应为时间",
    "decimal_type": "应为数字", "decimal_parsing": "应为数字", "decimal_max_places": "最多 {decimal_places} 位小数",
    "decimal_max_digits": "最多 {max_digits} 位数字", "decimal_whole_digits": "整数部分位数过多",
    "list_type": "应为列表", "tuple_type": "应为列表", "set_type": "应为列表", "dict_type": "应为对象",
    "too_short": "至少 {min_length} 项", "too_long": "最多 {max_length} 项",
    "model_type": "应为对象", "model_attributes_type": "应为对象", "dataclass_type": "应为对象",
    "json_invalid": "不是有效的 JSON", "json_type": "应为 JSON 文本", "bytes_type": "应为文件或文字",
    "uuid_type": "应为 UUID", "uuid_parsing": "应为 UUID", "url_type": "应为网址", "url_parsing": "应为网址",
    "union_tag_invalid": "类型标记不对", "union_tag_not_found": "缺少类型标记", "is_instance_of": "类型不对",
    "frozen_field": "不能修改", "frozen_instance": "不能修改", "assertion_error": "不符合要求",
    "value_error": "取值不正确", "unexpected_keyword_argument": "不认识的字段", "missing_argument": "必填",
}


def message_zh(en: str, vocabulary: Vocabulary | None = None) -> str | None:
    """The Chinese for an English message of the project's (exact, then by pattern), or None."""
    vocab = vocabulary or vocabulary_var.get()
    if (zh := vocab.messages.get(en)) is not None:
        return zh
    for pattern, template in vocab.patterns:
        if (m := re.search(pattern, en)) is not None:
            return template(*m.groups()) if callable(template) else template.format(*m.groups(), **m.groupdict())
    return None


def localized(en: str) -> str:
    """A message of the project's in the request's language: its Chinese unless English is asked for (or the
    vocabulary has none)."""
    return en if language.get() == EN else message_zh(en) or en


def pydantic_zh(error: Mapping[str, Any], vocabulary: Vocabulary | None = None) -> str:
    """One pydantic error (``exc.errors()`` item) in Chinese."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and ctx.get("error") is not None:
        own = str(ctx["error"])
        return message_zh(own, vocabulary) or f"{PYDANTIC_ZH[kind]}（{own}）"
    template = PYDANTIC_ZH.get(kind)
    if template is None:
        return message_zh(str(error.get("msg", "")), vocabulary) or f"取值不正确（{error.get('msg', '')}）"
    values = {k: v for k, v in ctx.items() if isinstance(v, (str, int, float))}
    if isinstance(values.get("expected"), str):             # "'a', 'b' or 'c'"
        values["expected"] = values["expected"].replace(" or ", " 或 ")
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return PYDANTIC_ZH.get(kind, "取值不正确").split("{")[0].strip() or "取值不正确"


def field_label(loc: Iterable[Any], vocabulary: Vocabulary | None = None) -> str | None:
    """The Chinese label of the field a ``loc`` points at: its last named part that has a label."""
    vocab = vocabulary or vocabulary_var.get()
    for part in reversed(list(loc)):
        if isinstance(part, str) and part in vocab.fields:
            return vocab.fields[part]
    return None


vocabulary_var: ContextVar[Vocabulary] = ContextVar("vocabulary", default=SHARED)
