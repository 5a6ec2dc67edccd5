"""Registry domain codes (CONTRACT §4) and their Chinese labels: English codes in the API, labels beside them.

Every code set is a ``StrEnum`` (used by the schemas, so an unknown code is a 422) with a label dict.
Importers may also accept the labels: :func:`code_for` maps a label or a code back to the code.
"""

from enum import StrEnum


class Attribute(StrEnum):
    general = "general"
    dibao = "dibao"
    tekun = "tekun"


ATTRIBUTE_LABELS = {"general": "一般贫困户", "dibao": "低保贫困户", "tekun": "特困供养贫困户"}


class Cause(StrEnum):
    illness = "illness"
    disability = "disability"
    education = "education"
    disaster = "disaster"
    lack_land = "lack_land"
    lack_water = "lack_water"
    lack_skills = "lack_skills"
    lack_labor = "lack_labor"
    lack_funds = "lack_funds"
    transport = "transport"
    low_motivation = "low_motivation"


CAUSE_LABELS = {"illness": "因病", "disability": "因残", "education": "因学", "disaster": "因灾",
                "lack_land": "缺土地", "lack_water": "缺水", "lack_skills": "缺技术", "lack_labor": "缺劳力",
                "lack_funds": "缺资金", "transport": "交通条件落后", "low_motivation": "自身发展动力不足"}


class Relation(StrEnum):
    head = "head"
    spouse = "spouse"
    son = "son"
    daughter = "daughter"
    son_in_law = "son_in_law"
    daughter_in_law = "daughter_in_law"
    grandson = "grandson"
    granddaughter = "granddaughter"
    father = "father"
    mother = "mother"
    grandparent = "grandparent"
    sibling = "sibling"
    other = "other"


RELATION_LABELS = {"head": "户主", "spouse": "配偶", "son": "之子", "daughter": "之女", "son_in_law": "之女婿",
                   "daughter_in_law": "之儿媳", "grandson": "之孙子", "granddaughter": "之孙女", "father": "之父",
                   "mother": "之母", "grandparent": "之祖父母", "sibling": "兄弟姐妹", "other": "其他"}


class Health(StrEnum):
    healthy = "healthy"
    chronic = "chronic"
    serious = "serious"
    disabled = "disabled"


HEALTH_LABELS = {"healthy": "健康", "chronic": "长期慢性病", "serious": "患有大病", "disabled": "残疾"}


class Labor(StrEnum):
    normal = "normal"
    skilled = "skilled"
    weak = "weak"
    lost = "lost"
    none = "none"


LABOR_LABELS = {"normal": "普通劳动力", "skilled": "技能劳动力", "weak": "弱劳动力或半劳动力",
                "lost": "丧失劳动力", "none": "无劳动力"}


class Education(StrEnum):
    """文化程度 (the contract leaves the codes open; these follow the 建档立卡 form)."""

    preschool = "preschool"
    illiterate = "illiterate"
    primary = "primary"
    junior_high = "junior_high"
    senior_high = "senior_high"
    vocational = "vocational"
    college = "college"


EDUCATION_LABELS = {"preschool": "学龄前儿童", "illiterate": "文盲或半文盲", "primary": "小学", "junior_high": "初中",
                    "senior_high": "高中", "vocational": "中职", "college": "大专及以上"}


class Status(StrEnum):
    pending = "pending"
    registered = "registered"
    exited = "exited"
    returned = "returned"
    removed = "removed"
    ordinary = "ordinary"      # 一般农户: not 建档立卡, recorded for 防返贫监测 only (CONTRACT §11)


STATUS_LABELS = {"pending": "识别中", "registered": "在册", "exited": "已脱贫", "returned": "返贫", "removed": "清退",
                 "ordinary": "一般农户"}


class Action(StrEnum):
    propose_registration = "propose_registration"
    propose_exit = "propose_exit"
    mark_returned = "mark_returned"
    remove = "remove"


ACTION_LABELS = {"propose_registration": "拟纳入（公示）", "propose_exit": "拟退出（公示）",
                 "mark_returned": "返贫", "remove": "清退"}


class Batch(StrEnum):
    """五个一批."""

    production = "production"
    relocation = "relocation"
    ecology = "ecology"
    education = "education"
    social_security = "social_security"


BATCH_LABELS = {"production": "发展生产", "relocation": "易地搬迁", "ecology": "生态补偿", "education": "发展教育",
                "social_security": "社会保障兜底"}


class Sex(StrEnum):
    male = "male"
    female = "female"


SEX_LABELS = {"male": "男", "female": "女"}

# 两不愁三保障: the six assurances an exit needs.
ASSURANCES = ("food", "clothing", "education", "medical", "housing", "water")
ASSURANCE_LABELS = {"food": "不愁吃", "clothing": "不愁穿", "education": "义务教育有保障", "medical": "基本医疗有保障",
                    "housing": "住房安全有保障", "water": "饮水安全有保障"}

# Exit conditions not met (409 ``unmet``): the assurance names above plus these.
UNMET_LABELS = {"income_missing": "未录入该年度收入", "poverty_line_missing": "该年度贫困线未设定",
                "income_below_line": "人均纯收入未超过贫困线", **ASSURANCE_LABELS}

ALL_LABELS = {"attribute": ATTRIBUTE_LABELS, "cause": CAUSE_LABELS, "relation": RELATION_LABELS,
              "health": HEALTH_LABELS, "labor": LABOR_LABELS, "education": EDUCATION_LABELS,
              "status": STATUS_LABELS, "batch": BATCH_LABELS, "sex": SEX_LABELS}


def code_for(kind: str, value: str) -> str | None:
    """The code for a code or a Chinese label of ``kind`` (e.g. ``"因病"`` → ``"illness"``), else None."""
    labels = ALL_LABELS[kind]
    value = value.strip()
    if value in labels:
        return value
    for code, label in labels.items():
        if label == value:
            return code
    return None
