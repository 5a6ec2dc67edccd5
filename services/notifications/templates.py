"""Every text the notifications service sends, in Chinese, in one place (SMS and app inbox).

SMS texts start with the sender signature 【精准扶贫】 that Chinese SMS gateways require. No template ever
writes a full ID number, phone or account number: payments name the account by its last four digits only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from shared.money import format_money

SIGNATURE = "【精准扶贫】"
CHINA = timezone(timedelta(hours=8), "CST")      # dates in texts are Beijing dates (no daylight saving)

# Fund purposes (CONTRACT §5): used when an event carries no label of its own.
PURPOSE_LABELS = {"industry": "产业发展", "infrastructure": "基础设施", "relocation": "易地搬迁", "education": "教育扶贫",
                  "health": "健康扶贫", "housing": "危房改造", "loan_interest": "小额信贷贴息",
                  "risk_compensation": "风险补偿金", "employment": "就业扶贫", "training": "技能培训",
                  "social_security": "兜底保障"}
NOTICE_KIND_LABELS = {"registration": "贫困户识别公示", "exit": "贫困户退出公示", "project": "扶贫项目公示",
                      "disbursement": "扶贫资金发放公示", "monitoring": "防返贫监测对象公示"}
DECISION_LABELS = {"upheld": "异议成立", "dismissed": "异议不成立"}
SMS_STATUS_LABELS = {"queued": "待发送", "sent": "已发送", "failed": "发送失败"}
MESSAGE_KIND_LABELS = {"helper.assigned": "帮扶结对", "objection.created": "公示异议",
                       "objection.resolved": "异议处理结果", "payment.paid": "补贴到账",
                       "payment.reversed": "补贴退回",
                       "loan.reminder": "小额信贷还款提醒", "funds.alerts": "资金预警",
                       "monitoring.case_approved": "纳入防返贫监测", "monitoring.case_eliminated": "防返贫监测风险消除",
                       "monitoring_report.created": "防返贫监测申报"}
# funds.alerts kinds (CONTRACT §5 滞留滞拨)
ALERT_KIND_LABELS = {"idle_allocation": "资金滞留未拨付", "stale_project": "项目环节停滞", "overdue_report": "监测报告逾期"}
ALERT_ENTITY_LABELS = {"allocation": "资金指标", "project": "项目", "report": "监测报告", "monitoring_report": "监测报告"}

SMS_SINGLE = 70        # UCS-2 code units in a one-part SMS
SMS_PART = 67          # ... and in each part of a concatenated one (the rest is the concatenation header)

REPLY_MAX = 300        # an officer's reply is quoted up to this many characters (longer SMS cost more)
TITLE_MAX = 60


@dataclass(frozen=True)
class Inbox:
    title: str
    body: str


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())      # one line: no newlines or runs of spaces in an SMS
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label_of_purpose(purpose: str, label: str | None = None) -> str:
    return label or PURPOSE_LABELS.get(purpose, purpose)


def china_date(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d")


def sms_units(text: str) -> int:
    """Length as the provider counts it: UCS-2 code units, a character beyond the BMP (an emoji, a rare
    CJK character of Extension B) being a surrogate pair, 2 units. Every text here carries the Chinese
    signature, so every SMS is UCS-2-encoded (never GSM 7-bit)."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def sms_parts(text: str) -> int:
    """How many SMS the provider bills for ``text``: 1 up to 70 units, else parts of 67 units each, a
    surrogate pair never split across two parts."""
    if sms_units(text) <= SMS_SINGLE:
        return 1
    parts, used = 1, 0
    for c in text:
        width = 2 if ord(c) > 0xFFFF else 1
        if used + width > SMS_PART:
            parts, used = parts + 1, 0
        used += width
    return parts


# --- app inbox -----------------------------------------------------------------------------------

def helper_assigned(*, village_name: str, head_name: str, household_no: str) -> Inbox:
    return Inbox(title="新的帮扶对象",
                 body=f"您已被指定为{village_name}{head_name}户的帮扶责任人（户编号 {household_no}）。")


def objection_created(*, notice_title: str, kind: str, notice_id: int, objection_id: int) -> Inbox:
    kind_label = NOTICE_KIND_LABELS.get(kind, "公示")
    return Inbox(title="公示收到新异议",
                 body=f"“{_cut(notice_title, TITLE_MAX)}”（{kind_label}，公示编号 {notice_id}）收到一条新的异议"
                      f"（异议编号 {objection_id}），请及时核实处理并答复。")


def monitoring_approved(*, village_name: str, head_name: str, household_no: str, case_no: str) -> Inbox:
    return Inbox(title="帮扶户纳入防返贫监测",
                 body=f"您帮扶的{village_name}{head_name}户（户编号 {household_no}）已经县级审批纳入防返贫监测"
                      f"（监测编号 {case_no}），请及时入户，制定并落实帮扶措施。")


def monitoring_eliminated(*, village_name: str, head_name: str, household_no: str, case_no: str) -> Inbox:
    return Inbox(title="帮扶户风险已消除",
                 body=f"您帮扶的{village_name}{head_name}户（户编号 {household_no}）防返贫监测风险已消除"
                      f"（监测编号 {case_no}），请继续关注该户情况，发现返贫风险及时报告。")
def monitoring_report_created(*, village_name: str, reporter_name: str, report_id: int) -> Inbox:
    """To the township's officers: a villager's 一码申报 (no ID number, no phone: they are in the report)."""
    who = f"{_cut(village_name, 20)}村民{_cut(reporter_name, 20)}" if village_name else _cut(reporter_name, 20)
    return Inbox(title="新的防返贫监测申报",
                 body=f"{who}通过一码申报提交了防返贫监测申请（申报编号 {report_id}），请在 2 日内入户核实，"
                      f"受理立案或说明理由不予受理。")


# --- SMS -----------------------------------------------------------------------------------------

def objection_resolved(*, notice_title: str, decision: str, reply: str) -> str:
    """To the villager who objected: the decision and the officer's reply."""
    text = (f"{SIGNATURE}您对“{_cut(notice_title, TITLE_MAX)}”提出的异议已处理，"
            f"结果：{DECISION_LABELS.get(decision, decision)}。")
    reply = _cut(reply or "", REPLY_MAX)
    return text + (f"答复：{reply}" if reply else "")


def monitoring_approved_sms() -> str:
    """To the household head, in plain words and with no risk details (the SMS may be read by anyone)."""
    return f"{SIGNATURE}您家已纳入防返贫监测帮扶，帮扶责任人会与您联系。"


def payment_paid(*, amount: Decimal, purpose: str, purpose_label: str | None, paid_at: datetime,
                 account_tail: str | None) -> str:
    """To the household head: 【精准扶贫】您户的产业发展补贴 3000.00 元已于 2020-06-01 发放至尾号 1234 的一卡通账户。"""
    label = label_of_purpose(purpose, purpose_label)
    if not label.endswith(("补贴", "贴息", "金", "费")):
        label += "补贴"
    account = f"尾号 {account_tail} 的一卡通账户" if account_tail else "您户的一卡通账户"
    return f"{SIGNATURE}您户的{label} {format_money(amount)} 元已于 {china_date(paid_at)} 发放至{account}。"


def payment_reversed(*, amount: Decimal, purpose: str, purpose_label: str | None) -> str:
    """To the household head, after a bank reversal of a paid line: the money did not arrive and will be paid
    again; whom to ask. 【精准扶贫】您户的产业发展补贴 3000.00 元被银行退回，未能到账。乡镇核实后将重新发放，如有疑问请联系乡镇人民政府。"""
    label = label_of_purpose(purpose, purpose_label)
    if not label.endswith(("补贴", "贴息", "金", "费")):
        label += "补贴"
    return (f"{SIGNATURE}您户的{label} {format_money(amount)} 元被银行退回，未能到账。"
            "乡镇核实后将重新发放，如有疑问请联系乡镇人民政府。")


def loan_reminder(*, kind: str, loan_no: str, due_on: date, outstanding: Decimal, days_overdue: int) -> str:
    """To the borrower, with no name or ID: the loan by its number's last four, the date, what is owed; one
    SMS part (70 characters) for the usual figures."""
    loan = f"尾号 {loan_no[-4:]} 的扶贫小额信贷" if len(loan_no) > 4 else f"扶贫小额信贷 {loan_no}"
    owed = f"尚欠 {format_money(outstanding)} 元"
    if kind == "overdue":
        late = f"已逾期 {days_overdue} 天" if days_overdue > 0 else "已逾期"
        return f"{SIGNATURE}您户{loan}{late}（应还款日 {due_on.isoformat()}），{owed}，请尽快还款。"
    return f"{SIGNATURE}您户{loan}将于 {due_on.isoformat()} 到期，{owed}，请按时还款。有困难可找村委会。"


ALERTS_LISTED = 20


def funds_alerts(*, region_code: str, as_of: date, counts: dict[str, int], items: list[dict[str, Any]]) -> Inbox:
    """To a county admin: the day's 滞留滞拨 alerts, counted per kind, with the first items listed."""
    total = sum(counts.values())
    summary = "，".join(f"{ALERT_KIND_LABELS.get(k, k)} {n} 项" for k, n in counts.items() if n) or "无"
    lines = []
    for n, item in enumerate(items[:ALERTS_LISTED], start=1):
        entity = ALERT_ENTITY_LABELS.get(item["entity"], item["entity"])
        since = f"（自 {item['since']} 起）" if item.get("since") else ""
        detail = f"：{_cut(item['detail'], TITLE_MAX)}" if item.get("detail") else ""
        lines.append(f"{n}. {ALERT_KIND_LABELS.get(item['kind'], item['kind'])} {entity} {item['entity_id']}"
                     f"{since}{detail}")
    more = total - len(lines)
    body = f"截至 {as_of.isoformat()}，本县（{region_code}）共有资金预警 {total} 项：{summary}。"
    if lines:
        body += "\n" + "\n".join(lines)
    if more > 0:
        body += f"\n另有 {more} 项未列出，请在资金预警（滞留滞拨）中查看全部。"
    return Inbox(title=f"资金预警 {as_of.isoformat()}：{total} 项待处理", body=body)
