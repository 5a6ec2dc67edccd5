"""Funds domain codes with their Chinese labels."""

from enum import StrEnum


class FundLevel(StrEnum):
    central = "central"
    provincial = "provincial"
    municipal = "municipal"
    county = "county"
    social = "social"
    partner = "partner"


FUND_LEVEL_LABELS = {"central": "中央", "provincial": "省级", "municipal": "市级", "county": "县级",
                     "social": "社会帮扶", "partner": "东西部协作"}


class Purpose(StrEnum):
    """What earmarked money may be spent on (专款专用)."""

    industry = "industry"
    infrastructure = "infrastructure"
    relocation = "relocation"
    education = "education"
    health = "health"
    housing = "housing"
    loan_interest = "loan_interest"
    risk_compensation = "risk_compensation"
    employment = "employment"
    training = "training"
    social_security = "social_security"


PURPOSE_LABELS = {"industry": "产业发展", "infrastructure": "基础设施", "relocation": "易地搬迁", "education": "教育扶贫",
                  "health": "健康扶贫", "housing": "危房改造", "loan_interest": "小额信贷贴息", "risk_compensation": "风险补偿金",
                  "employment": "就业扶贫", "training": "技能培训", "social_security": "兜底保障"}


class AccountKind(StrEnum):
    """A ledger account: a fund source's issued money (its balance is minus what it has allocated), or an
    allocation's money that is free to use, promised to a batch or project, or paid out."""

    source = "source"
    available = "available"
    committed = "committed"
    spent = "spent"


class EntryKind(StrEnum):
    allocate = "allocate"       # source → available
    adjust = "adjust"           # 调项: available of one allocation → available of a new one (approved)
    commit = "commit"           # available → committed
    release = "release"         # committed → available
    spend = "spend"             # committed → spent
    reverse = "reverse"         # the negation of an earlier entry
    refund = "refund"           # 退回: spent → available, one paid line the bank reversed (bank statement)


ENTRY_KIND_LABELS = {"allocate": "下达", "adjust": "调项", "commit": "占用", "release": "释放", "spend": "支出",
                     "reverse": "冲正", "refund": "退回"}


class AdjustmentStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"


ADJUSTMENT_STATUS_LABELS = {"proposed": "待审批", "approved": "已批准", "rejected": "已驳回"}


class DisbursementStatus(StrEnum):
    draft = "draft"                 # lines checked against the registry
    publicizing = "publicizing"     # its 公示 is open
    publicized = "publicized"       # the 公示 closed; lines with an upheld objection are struck
    approved = "approved"           # money committed (four eyes)
    sent = "sent"                   # handed to the partner bank
    done = "done"                   # every line paid or failed


DISBURSEMENT_STATUS_LABELS = {"draft": "草稿", "publicizing": "公示中", "publicized": "已公示", "approved": "已审批",
                              "sent": "已发放银行", "done": "已完成"}


class LineStatus(StrEnum):
    listed = "listed"
    struck = "struck"       # an objection against it was upheld
    paid = "paid"
    failed = "failed"


LINE_STATUS_LABELS = {"listed": "待发放", "struck": "已取消（异议成立）", "paid": "已到账", "failed": "发放失败"}
# Purposes whose money never goes to households' accounts by a batch (贴息 and 风险补偿金 have their own paths).
NOT_FOR_HOUSEHOLDS = frozenset({"loan_interest", "risk_compensation"})


class ProjectStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    in_progress = "in_progress"
    inspected = "inspected"
    accepted = "accepted"
    settled = "settled"
    rejected = "rejected"
    cancelled = "cancelled"


PROJECT_STATUS_LABELS = {"proposed": "申报", "approved": "审批", "in_progress": "实施", "inspected": "初检",
                         "accepted": "验收", "settled": "报账", "rejected": "已驳回", "cancelled": "已取消"}


class ProjectAction(StrEnum):
    approve = "approve"
    reject = "reject"
    start = "start"
    inspect = "inspect"
    accept = "accept"
    settle = "settle"
    cancel = "cancel"


class PaymentStage(StrEnum):
    advance = "advance"         # 预付款
    progress = "progress"       # 进度款
    final = "final"             # 尾款: only once the project is accepted


PAYMENT_STAGE_LABELS = {"advance": "预付款", "progress": "进度款", "final": "尾款"}


class LoanEventKind(StrEnum):
    rated = "rated"             # 评级授信
    issued = "issued"           # 放款
    repaid = "repaid"           # 还款
    overdue = "overdue"         # 逾期
    extended = "extended"       # 展期
    settled = "settled"         # 结清
    defaulted = "defaulted"     # 代偿


LOAN_EVENT_LABELS = {"rated": "评级授信", "issued": "放款", "repaid": "还款", "overdue": "逾期", "extended": "展期",
                     "settled": "结清", "defaulted": "代偿"}


class LoanStatus(StrEnum):
    rated = "rated"             # credit granted, nothing lent yet
    issued = "issued"           # lent, being repaid on time
    repaying = "repaying"       # 还款中: partly repaid
    overdue = "overdue"
    extended = "extended"       # 展期: term lengthened
    settled = "settled"
    defaulted = "defaulted"     # 代偿: the risk compensation fund paid the bank


LOAN_STATUS_LABELS = {"rated": "已授信", "issued": "正常", "repaying": "还款中", "overdue": "逾期", "extended": "展期", "settled": "已结清",
                      "defaulted": "已代偿"}
SUBSIDIZED_HOUSEHOLD_STATUSES = frozenset({"registered", "returned", "exited"})


class AlertKind(StrEnum):
    """滞留滞拨: money or a project that has stopped moving (CONTRACT §5)."""

    idle_allocation = "idle_allocation"     # 资金滞留: available money not drawn for too long
    stale_project = "stale_project"         # 项目滞拨: a project held in one stage for too long


ALERT_KIND_LABELS = {"idle_allocation": "资金滞留", "stale_project": "项目滞拨"}
# Project statuses an alert may hold in (before 报账; rejected and cancelled projects are over).
OPEN_PROJECT_STATUSES = ("proposed", "approved", "in_progress", "inspected", "accepted")

class ReconciliationStatus(StrEnum):
    """对账: a batch compared with its bank's statements."""

    unreconciled = "unreconciled"   # no statement of the batch's bank has named the batch yet
    balanced = "balanced"           # statements name it and agree with every line
    breaks = "breaks"               # statements name it and differ somewhere (see the breaks)


RECONCILIATION_STATUS_LABELS = {"unreconciled": "未对账", "balanced": "账实相符", "breaks": "存在差异"}


class BreakKind(StrEnum):
    paid_not_booked = "paid_not_booked"     # the bank's results say paid; no statement booked it
    booked_not_paid = "booked_not_paid"     # a statement booked it; the line is not paid (or does not exist)
    amount_mismatch = "amount_mismatch"     # booked (or reversed) for another amount than the line's
    reversed = "reversed"                   # the bank reversed a paid line (退回)


BREAK_KIND_LABELS = {"paid_not_booked": "已发放未入账", "booked_not_paid": "已入账未发放", "amount_mismatch": "金额不符",
                     "reversed": "银行退回"}

class RiskClaimStatus(StrEnum):
    """风险补偿: a defaulted loan's claim on the risk compensation fund (four eyes: reviewed, then approved)."""

    open = "open"               # 待审核
    reviewed = "reviewed"       # 已审核
    paid = "paid"               # 已补偿
    rejected = "rejected"       # 已驳回


RISK_CLAIM_STATUS_LABELS = {"open": "待审核", "reviewed": "已审核", "paid": "已补偿", "rejected": "已驳回"}


class LoanReminderKind(StrEnum):
    overdue = "overdue"         # 逾期提醒
    due_soon = "due_soon"       # 到期提醒 (in 3 days)


LOAN_REMINDER_LABELS = {"overdue": "逾期提醒", "due_soon": "到期提醒"}
