"""Funds domain codes with their Chinese labels."""

from enum import StrEnum

from shared.i18n import Vocabulary, message_zh


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


ACCOUNT_KIND_LABELS = {"source": "资金来源", "available": "可用", "committed": "已占用", "spent": "已支出"}


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


PROJECT_ACTION_LABELS = {"approve": "审批", "reject": "驳回", "start": "开工实施", "inspect": "初检",
                         "accept": "验收", "settle": "报账", "cancel": "取消"}


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
    overdue_report = "overdue_report"       # 申报逾期: a villager's 一码申报 not acted on within 2 days (registry)


ALERT_KIND_LABELS = {"idle_allocation": "资金滞留", "stale_project": "项目滞拨", "overdue_report": "申报逾期未处理"}
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


# Field names → Chinese labels (problems' ``errors[].field_label``), and the Chinese for funds' own messages.
FIELD_LABELS = {
    "source_id": "资金来源", "allocation_id": "资金指标", "region_code": "地区代码", "purpose": "资金用途",
    "amount": "金额", "doc_no": "文号", "title": "名称", "year": "年度", "level": "资金级别", "name": "名称",
    "memo": "摘要", "household_id": "户", "household_ids": "户", "lines": "发放明细", "account_no": "银行账号",
    "bank_code": "银行代码", "bank_ref": "银行流水号", "reason": "原因", "status": "状态", "budget": "预算",
    "beneficiary_household_ids": "受益户", "stage": "拨付阶段", "action": "操作", "to_purpose": "调入用途",
    "event_id": "事件编号", "loan_no": "贷款编号", "kind": "事件类型", "occurred_at": "发生时间",
    "id_number": "身份证号", "principal": "本金", "rate": "利率", "term_months": "期限（月）", "credit_line": "授信额度",
    "rating": "信用评级", "due_on": "到期日", "matures_on": "到期日", "period_start": "开始日期", "period_end": "结束日期",
    "statement_id": "对账单编号", "entries": "对账单明细", "end_to_end_id": "明细参考号", "booked_on": "记账日期",
    "reversal": "冲回", "days": "公示天数", "item_refs": "公示条目", "content": "异议内容", "contact_name": "联系人",
    "contact_phone": "联系电话", "phone": "联系电话", "note": "说明", "decision": "处理结果", "reply": "答复",
    "withdraw_reason": "撤回原因", "region": "地区", "village_code": "村代码", "payee": "收款人",
}

MESSAGES_ZH = {
    "No such loan": "没有这笔贷款", "No such risk claim": "没有这笔风险补偿申请", "No such region": "没有这个地区（或不在您的辖区内）",
    "No such allocation": "没有这个资金指标（或不在您的辖区内）", "No such disbursement": "没有这个发放批次",
    "No such adjustment": "没有这个调项", "No such fund source": "没有这个资金来源", "No such project": "没有这个项目",
    "No such funding of this project": "该项目没有这笔资金占用", "No such payment of this project": "该项目没有这笔拨付",
    "No such notice": "没有这个公示", "No such objection": "没有这条异议",
    "The entry was already reversed": "这笔分录已冲正", "The final payment (尾款) waits for 验收": "尾款须在验收后拨付",
    "This allocation came from a 调项; move its money with another adjustment": "该指标来自调项，请另行调项",
    "This notice is not open for objections": "该公示不在异议期内", "the claim has nothing to pay": "该申请没有应补偿金额",
    "The county_admin who reviewed a claim cannot approve it (四眼原则)": "审核人不能审批同一申请（四眼原则）",
    "The creator of a batch cannot approve it (four eyes)": "批次创建人不能审批本批次（四眼原则）",
    "The proposer of an adjustment cannot approve it (four eyes)": "调项提出人不能审批（四眼原则）",
    "This token names no bank": "该令牌不属于合作银行", "region is required": "须指定地区",
    "the body is not valid JSON or form data": "请求内容不是有效的 JSON 或表单",
    "the body must be an object": "请求内容须为对象", "an objection is at most 16 kB": "异议内容最多 16 kB",
    "a household is listed twice": "同一户填了两次", "a household appears twice in one results post": "同一户在一次结果报送中出现两次",
    "occurred_at is in the future": "发生时间不能在将来", "period_end is before period_start": "结束日期早于开始日期",
    "a period is at most a year": "期间最长一年", "item refs must be unique within a notice": "公示条目编号不能重复",
}

# why a loan's history makes an event impossible (loans/state.py: impossible)
WHY_ZH = (
    (r"^the loan was already issued \(event (\S+)\)$", "该贷款已发放（事件 {0}）"),
    (r"^repays ([\d.]+) but only ([\d.]+) was outstanding then$", "还款 {0} 元，但当时未还本金只有 {1} 元"),
    (r"^the loan was repaid in full on (\S+)$", "该贷款已于 {0} 还清"),
    (r"^the loan was (\w+) on (\S+)$", lambda k, d: f"该贷款已于 {d} {LOAN_EVENT_LABELS.get(k, k)}"),
    (r"^it is before the loan was issued \((\S+)\)$", "早于贷款发放日（{0}）"),
)


_WHY = Vocabulary(patterns=WHY_ZH)


def _why_zh(why: str) -> str:
    return message_zh(why, _WHY) or why


PATTERNS_ZH = (
    (r"^event (\S+) was stored with other content$", "事件 {0} 已以不同内容报送过"),
    (r"^loan (\S+) belongs to another borrower$", "贷款 {0} 属于另一位借款人"),
    (r"^(\w+) event (\S+) cannot be: (.*)$",
     lambda k, e, why: f"{LOAN_EVENT_LABELS.get(k, k)}事件 {e} 不能接受：{_why_zh(why)}"),
    (r"^a (\w+) event needs (.*)$", "{0} 事件须填写 {1}"),
    (r"^household (\d+) is listed twice", "户 {0} 填了两次，每批次每户最多发放一次"),
    (r"^Statement (.+) was received before with other content", "对账单 {0} 已以不同内容报送过"),
    (r"^Lines for (\d+) household\(s\) were already settled otherwise", "{0} 户的明细已有不同的最终结果，本次未作任何变更"),
    (r"^end_to_end_id must be the line reference sent with the batch", "明细参考号须为批次下发时的参考号（JZ-批次号-明细号）"),
    (r"^(\d+) beneficiary household\(s\) cannot benefit$", "{0} 个受益户不符合条件"),
    (r"^Your role may not (\w+) a project$", lambda a: f"您的角色无权对项目进行「{PROJECT_ACTION_LABELS.get(a, a)}」"),
    (r"^A (\w+) project cannot be (\w+?)e?d$",
     lambda s, a: f"「{PROJECT_STATUS_LABELS.get(s, s)}」阶段的项目不能进行此操作"),
    (r"^A (\w+) project takes no funding",
     lambda s: f"「{PROJECT_STATUS_LABELS.get(s, s)}」阶段的项目不能占用资金（审批后至报账前才可以）"),
    (r"^The project's budget is ([\d.]+); ([\d.]+) is funded already$", "项目预算 {0} 元，已占用 {1} 元"),
    (r"^A (\w+) project makes no payments$", lambda s: f"「{PROJECT_STATUS_LABELS.get(s, s)}」阶段的项目不能拨付"),
    (r"^Only ([\d.]+) of the project's funding is unpaid$", "项目已占用资金中只有 {0} 元尚未拨付"),
    (r"^Before 验收 the project pays at most (\S+) of its budget, ([\d.]+); ([\d.]+) is paid, so at most ([\d.]+) more$",
     "验收前最多拨付预算的 {0}（{1} 元）；已拨付 {2} 元，最多还能拨付 {3} 元"),
    (r"^The batch is (\w+); it cannot be (.+) now$",
     lambda s, d: f"批次处于「{DISBURSEMENT_STATUS_LABELS.get(s, s)}」状态，现在不能进行此操作"),
    (r"^(\d+) line\(s\) cannot be paid$", "{0} 条发放明细不能发放"),
    (r"^Entry (\d+) was already reversed by entry (\d+)$", "分录 {0} 已被分录 {1} 冲正"),
    (r"^The adjustment is already (\w+)$", lambda s: f"该调项{ADJUSTMENT_STATUS_LABELS.get(s, s)}"),
    (r"^cannot (\w+) a claim that is (\w+) \((.+)\)$", "「{2}」的风险补偿申请不能进行此操作"),
    (r"^no risk_compensation \(风险补偿金\) allocation covers village (\d+)$", "没有覆盖村 {0} 的风险补偿金指标"),
    (r"^no risk_compensation allocation covering village (\d+) has ([\d.]+) available", "覆盖村 {0} 的风险补偿金指标可用余额不足 {1} 元"),
    (r"^Too many objections from your address; try again later \(in (\d+) s\)$", "提交异议过于频繁，请 {0} 秒后再试"),
    (r"^This notice has received too many objections in the last hour; try again later \(in (\d+) s\)$",
     "该公示一小时内收到的异议过多，请 {0} 秒后再试"),
    (r"^notice (\d+) is already open for (.+)$", "公示 {0} 正在进行中（{1}）"),
    (r"^objection (\d+) is already (\w+)$", lambda i, s: f"异议 {i} 已处理（{s}）"),
    (r"^notice (\d+) is (\w+)$", lambda i, s: f"公示 {i} 不在公示中"),
    (r"^the notice runs until (.+)$", "公示期至 {0}，尚未结束"),
    (r"^(\d+) objection\(s\) are not resolved yet$", "还有 {0} 条异议未处理"),
)
