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


# Field names → Chinese labels, for problems (``errors[].field_label``) and the docs.
FIELD_LABELS = {
    "household_no": "户编号", "village_code": "村代码", "address": "地址", "phone": "联系电话",
    "attribute": "贫困户属性", "main_cause": "主要致贫原因", "other_causes": "其他致贫原因",
    "identified_year": "识别年度", "members": "家庭成员", "name": "姓名", "id_number": "身份证号",
    "relation": "与户主关系", "health": "健康状况", "labor": "劳动能力", "education": "文化程度",
    "in_school": "在校生", "migrant_worker": "务工", "sex": "性别", "birth_date": "出生日期",
    "payout_account": "一卡通账户", "bank_code": "开户银行代码", "account_no": "银行账号",
    "code": "行政区划代码", "parent_code": "上级区划代码", "level": "区划级别", "rural_population": "农村人口",
    "year": "年度", "amount": "金额", "net_income": "纯收入", "wage": "工资性收入", "production": "生产经营性收入",
    "property": "财产性收入", "transfer": "转移性收入", "expenses": "生产经营支出", "food": "不愁吃",
    "clothing": "不愁穿", "medical": "基本医疗", "housing": "住房安全", "water": "饮水安全",
    "action": "变更操作", "reason": "原因", "exit_year": "脱贫年度", "user_id": "帮扶责任人",
    "batch": "五个一批", "description": "说明", "visited_at": "走访时间", "notes": "走访记录", "client_id": "客户端编号",
    "notice_days": "公示天数", "file": "文件", "status": "状态", "member_id": "家庭成员",
}

MESSAGES_ZH = {
    "No such household": "没有这户（或不在您的辖区内）",
    "No such person": "没有这个人（或不在您的辖区内）",
    "No such member": "没有这个家庭成员",
    "No such region": "没有这个地区（或不在您的辖区内）",
    "No such parent region in your scope": "您的辖区内没有这个上级地区",
    "No such job": "没有这个任务",
    "This person is already registered in another household": "此人已在另一户登记",
    "the head cannot be removed: a household has exactly one head": "不能删除户主：每户有且只有一位户主",
    "this member is the head": "此成员是户主",
    "imports are made by people, in their own region": "导入须由本辖区的工作人员进行",
    "region is required": "须指定地区",
    "the poverty line has changed": "贫困线已被修改，请刷新后重试",
    "client_id was already used for another visit": "该 client_id 已用于另一条走访记录",
    "visited_at is before 2000": "走访时间早于 2000 年",
    "visited_at is in the future": "走访时间不能在将来",
}

PATTERNS_ZH = (
    (r'^exactly one member must have relation "head" \(found (\d+)\)$', "家庭成员中须有且只有一位户主（现有 {0} 位）"),
    (r"^ID number (\S+) is listed twice$", "身份证号 {0} 填了两次"),
    (r"^files up to (\d+) MB can be imported$", "只能导入 {0} MB 以内的文件"),
    (r"^region (\d+) already exists$", "地区 {0} 已存在"),
    (r"^a (\w+) is already waiting for notice (\d+)$",
     lambda a, n: f"已有「{ACTION_LABELS.get(a, a)}」在等待公示 {n} 结束"),
    (r"^parent region (\d+) does not exist$", "上级地区 {0} 不存在"),
)
