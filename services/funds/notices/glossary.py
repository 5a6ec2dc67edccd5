"""公示 codes with their Chinese labels, and the labels the public page puts beside listed fields."""

from enum import StrEnum


class NoticeKind(StrEnum):
    registration = "registration"
    exit = "exit"
    project = "project"
    disbursement = "disbursement"
    monitoring = "monitoring"       # a 防返贫监测 case's 纳入 or 风险消除 (CONTRACT §11)


class NoticeStatus(StrEnum):
    open = "open"
    closed = "closed"
    withdrawn = "withdrawn"


class Requester(StrEnum):
    registry = "registry"
    funds = "funds"


class ObjectionStatus(StrEnum):
    pending = "pending"
    upheld = "upheld"
    dismissed = "dismissed"


class Decision(StrEnum):
    upheld = "upheld"
    dismissed = "dismissed"


KIND_LABELS = {"registration": "贫困户识别公示", "exit": "贫困户退出公示", "project": "扶贫项目公示",
               "disbursement": "扶贫资金发放公示", "monitoring": "防返贫监测对象公示"}
STATUS_LABELS = {"open": "公示中", "closed": "公示结束", "withdrawn": "已撤回"}
OBJECTION_LABELS = {"pending": "待处理", "upheld": "异议成立", "dismissed": "异议不成立"}
DECISION_LABELS = {"upheld": "异议成立", "dismissed": "异议不成立"}
REQUESTER_LABELS = {"registry": "建档立卡（识别、退出）", "funds": "资金（项目、到户补贴）"}

# Column headings for item fields on the public page (unknown fields are shown under their own name).
FIELD_LABELS = {
    "name": "姓名", "id_number": "身份证号", "phone": "联系电话", "amount": "金额（元）",
    "address": "住址", "village": "村", "group": "组", "household_no": "户编号", "attribute": "贫困户属性",
    "main_cause": "主要致贫原因", "members": "家庭人口", "member_count": "家庭人口", "memo": "备注",
    "purpose": "用途", "budget": "预算（元）", "income": "人均纯收入（元）", "year": "年度", "reason": "理由",
    "payout_account": "补贴账户", "case_no": "监测编号", "category": "监测类型", "category_label": "监测类型",
    "risk_types": "风险类型", "risk_type_labels": "风险类型",
}

# Display labels for enum codes the registry and funds send as item values (CONTRACT §4, §5), per field.
_CAUSES = {"illness": "因病", "disability": "因残", "education": "因学", "disaster": "因灾", "lack_land": "缺土地",
           "lack_water": "缺水", "lack_skills": "缺技术", "lack_labor": "缺劳力", "lack_funds": "缺资金",
           "transport": "交通条件落后", "low_motivation": "自身发展动力不足"}
VALUE_LABELS = {
    "attribute": {"general": "一般贫困户", "dibao": "低保贫困户", "tekun": "特困供养贫困户"},
    "main_cause": _CAUSES,
    "category": {"unstable": "脱贫不稳定户", "marginal": "边缘易致贫户", "sudden": "突发严重困难户"},
    "risk_types": {"illness": "因病", "disability": "因残", "education": "因学", "disaster": "因自然灾害",
                   "accident": "因意外事故", "industry_failure": "因产业项目失败", "unstable_job": "因务工就业不稳",
                   "lack_labor": "缺劳动力", "other": "其他"},
    "purpose": {"industry": "产业发展", "infrastructure": "基础设施", "relocation": "易地搬迁", "education": "教育扶贫",
                "health": "健康扶贫", "housing": "危房改造", "loan_interest": "小额信贷贴息",
                "risk_compensation": "风险补偿金", "employment": "就业扶贫", "training": "技能培训",
                "social_security": "兜底保障"},
}
