"""防返贫监测 codes (CONTRACT §11) and their Chinese labels."""

from enum import StrEnum

from services.registry.glossary import ASSURANCE_LABELS


class Category(StrEnum):
    unstable = "unstable"       # 脱贫不稳定户: an exited household
    marginal = "marginal"       # 边缘易致贫户: an ordinary household
    sudden = "sudden"           # 突发严重困难户: any household but registered, returned, removed


CATEGORY_LABELS = {"unstable": "脱贫不稳定户", "marginal": "边缘易致贫户", "sudden": "突发严重困难户"}


class RiskType(StrEnum):
    illness = "illness"
    disability = "disability"
    education = "education"
    disaster = "disaster"
    accident = "accident"
    industry_failure = "industry_failure"
    unstable_job = "unstable_job"
    lack_labor = "lack_labor"
    other = "other"


RISK_LABELS = {"illness": "因病", "disability": "因残", "education": "因学", "disaster": "因自然灾害",
               "accident": "因意外事故", "industry_failure": "因产业项目失败", "unstable_job": "因务工就业不稳",
               "lack_labor": "缺劳动力", "other": "其他"}


class Source(StrEnum):
    self_report = "self_report"
    cadre_visit = "cadre_visit"
    screening = "screening"


SOURCE_LABELS = {"self_report": "农户自主申报", "cadre_visit": "基层干部排查", "screening": "部门筛查预警"}


class CaseStatus(StrEnum):
    reported = "reported"
    verified = "verified"
    publicized = "publicized"
    approved = "approved"
    eliminated = "eliminated"
    rejected = "rejected"


CASE_STATUS_LABELS = {"reported": "申报", "verified": "入户核实", "publicized": "评议公示", "approved": "县级审批",
                      "eliminated": "风险消除", "rejected": "不予纳入"}
CLOSED_STATUSES = ("eliminated", "rejected")      # every other status is an open case (one per household)


class Phase(StrEnum):
    """What the case's current (or last) 公示 is for: taking the household in, or releasing it."""

    inclusion = "inclusion"
    elimination = "elimination"


PHASE_LABELS = {"inclusion": "纳入监测", "elimination": "风险消除"}


class CaseAction(StrEnum):
    verify = "verify"
    publicize = "publicize"
    approve = "approve"
    reject = "reject"
    propose_elimination = "propose_elimination"


# Steps in a case's history: the actions above, the report itself, and what a closed 公示 did.
STEP_LABELS = {"report": "申报", "verify": "入户核实", "publicize": "评议公示", "approve": "县级审批",
               "reject": "不予纳入", "propose_elimination": "拟风险消除（公示）", "notice_closed": "公示结束",
               "objection_upheld": "公示异议成立，退回"}

# Elimination refused (409 ``unmet``): every condition not met.
ELIMINATION_UNMET_LABELS = {
    "too_soon": "纳入监测未满6个月", "income_missing": "未录入该年度收入", "threshold_missing": "该年度监测标准未设定",
    "income_not_above_threshold": "人均纯收入未高于监测标准", "no_measure_since_approval": "纳入监测以来无帮扶措施",
    "no_labor_dibao_support": "全家无劳动能力，继续监测并落实兜底保障",
    **ASSURANCE_LABELS}

# Verification refused (409 ``missing``): what the year's record still lacks.
VERIFY_MISSING_LABELS = {"income": "该年度收入未录入", "assurance": "该年度两不愁三保障未录入"}
