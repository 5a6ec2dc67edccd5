"""Every text the notifications service sends, in Chinese, in one place (SMS and app inbox).

SMS texts start with the sender signature 【精准扶贫】 that Chinese SMS gateways require. No template ever
writes a full ID number, phone or account number: payments name the account by its last four digits only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from shared.money import format_money

SIGNATURE = "【精准扶贫】"
CHINA = timezone(timedelta(hours=8), "CST")      # dates in texts are Beijing dates (no daylight saving)

# Fund purposes (CONTRACT §5): used when an event carries no label of its own.
PURPOSE_LABELS = {"industry": "产业发展", "infrastructure": "基础设施", "relocation": "易地搬迁", "education": "教育扶贫",
                  "health": "健康扶贫", "housing": "危房改造", "loan_interest": "小额信贷贴息",
                  "risk_compensation": "风险补偿金", "employment": "就业扶贫", "training": "技能培训",
                  "social_security": "兜底保障"}
NOTICE_KIND_LABELS = {"registration": "贫困户识别公示", "exit": "贫困户退出公示", "project": "扶贫项目公示",
                      "disbursement": "扶贫资金发放公示"}
DECISION_LABELS = {"upheld": "异议成立", "dismissed": "异议不成立"}
SMS_STATUS_LABELS = {"queued": "待发送", "sent": "已发送", "failed": "发送失败"}
MESSAGE_KIND_LABELS = {"helper.assigned": "帮扶结对", "objection.created": "公示异议",
                       "objection.resolved": "异议处理结果", "payment.paid": "补贴到账"}

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


# --- app inbox -----------------------------------------------------------------------------------

def helper_assigned(*, village_name: str, head_name: str, household_no: str) -> Inbox:
    return Inbox(title="新的帮扶对象",
                 body=f"您已被指定为{village_name}{head_name}户的帮扶责任人（户编号 {household_no}）。")


def objection_created(*, notice_title: str, kind: str, notice_id: int, objection_id: int) -> Inbox:
    kind_label = NOTICE_KIND_LABELS.get(kind, "公示")
    return Inbox(title="公示收到新异议",
                 body=f"“{_cut(notice_title, TITLE_MAX)}”（{kind_label}，公示编号 {notice_id}）收到一条新的异议"
                      f"（异议编号 {objection_id}），请及时核实处理并答复。")


# --- SMS -----------------------------------------------------------------------------------------

def objection_resolved(*, notice_title: str, decision: str, reply: str) -> str:
    """To the villager who objected: the decision and the officer's reply."""
    text = (f"{SIGNATURE}您对“{_cut(notice_title, TITLE_MAX)}”提出的异议已处理，"
            f"结果：{DECISION_LABELS.get(decision, decision)}。")
    reply = _cut(reply or "", REPLY_MAX)
    return text + (f"答复：{reply}" if reply else "")


def payment_paid(*, amount: Decimal, purpose: str, purpose_label: str | None, paid_at: datetime,
                 account_tail: str | None) -> str:
    """To the household head: 【精准扶贫】您户的产业发展补贴 3000.00 元已于 2020-06-01 发放至尾号 1234 的一卡通账户。"""
    label = label_of_purpose(purpose, purpose_label)
    if not label.endswith(("补贴", "贴息", "金", "费")):
        label += "补贴"
    account = f"尾号 {account_tail} 的一卡通账户" if account_tail else "您户的一卡通账户"
    return f"{SIGNATURE}您户的{label} {format_money(amount)} 元已于 {china_date(paid_at)} 发放至{account}。"
