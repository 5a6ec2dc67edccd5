"""The demo county's tables: regions, users, fund sources, allocations, poverty lines, and deterministic
households (valid GB 11643 ID numbers) with their fates from 2014 to 2020 (:func:`fate`)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared import idnumber

YEAR = 2020                       # 脱贫攻坚收官之年: the work plans the demo is drawn from
DEMO_PASSWORD = "Jingzhun-Demo-2020"   # every demo user except the bootstrap admin


@dataclass(frozen=True)
class DemoRegion:
    code: str
    name: str
    rural_population: int


COUNTY = DemoRegion("640122000000", "贺兰县", 128_600)
TOWNSHIPS = (
    DemoRegion("640122100000", "洪广镇", 31_200),
    DemoRegion("640122101000", "金贵镇", 28_400),
    DemoRegion("640122102000", "立岗镇", 30_900),
    DemoRegion("640122200000", "常信乡", 22_700),
)
VILLAGES = (
    DemoRegion("640122100201", "欣荣村", 2_860),
    DemoRegion("640122100202", "广荣村", 3_140),
    DemoRegion("640122100203", "隆源村", 2_430),
    DemoRegion("640122100204", "金山村", 1_980),
    DemoRegion("640122101201", "银河村", 2_310),
    DemoRegion("640122101202", "联星村", 2_050),
    DemoRegion("640122101203", "关渠村", 1_870),
    DemoRegion("640122102201", "兰光村", 2_640),
    DemoRegion("640122102202", "通义村", 2_190),
    DemoRegion("640122102203", "星火村", 1_760),
    DemoRegion("640122200201", "丰登村", 2_380),
    DemoRegion("640122200202", "四十里店村", 2_020),
    DemoRegion("640122200203", "新平村", 1_690),
)
REGIONS = (COUNTY, *TOWNSHIPS, *VILLAGES)

# username, display name, role, region, phone
USERS = (
    ("county2", "杨文华", "county_admin", COUNTY.code, "13995100101"),      # the second pair of eyes
    ("finance", "李秀兰", "finance_officer", COUNTY.code, "13995100102"),
    ("auditor", "赵志强", "auditor", COUNTY.code, "13995100103"),
    ("hongguang", "马德福", "township_officer", "640122100000", "13995100201"),
    ("jingui", "王丽娟", "township_officer", "640122101000", "13995100202"),
    ("xinrong", "马占林", "village_cadre", "640122100201", "13995100301"),
    ("guangrong", "纳国庆", "village_cadre", "640122100202", "13995100302"),
    ("longyuan", "海宝山", "village_cadre", "640122100203", "13995100303"),
    ("helper_zhang", "张晓燕", "helper", "640122100201", "13995100401"),
    ("helper_liu", "刘海军", "helper", "640122100202", "13995100402"),
)

# name, level, document number
FUND_SOURCES = (
    ("中央财政专项扶贫资金", "central", "财农〔2020〕8号"),
    ("自治区财政专项扶贫资金", "provincial", "宁财(农)发〔2020〕57号"),
    ("银川市财政专项扶贫资金", "municipal", "银财(农)发〔2020〕112号"),
    ("贺兰县本级财政扶贫资金", "county", "贺财发〔2020〕21号"),
    ("闽宁协作帮扶资金", "partner", "闽宁协作〔2020〕6号"),
    ("社会帮扶捐赠资金", "social", "贺扶贫发〔2020〕15号"),
)


# per fund source: the purpose and amount (yuan) allocated to the county, as a 资金下达 document would
ALLOCATIONS = (("industry", "3200000.00"), ("education", "860000.00"), ("housing", "1250000.00"),
               ("loan_interest", "420000.00"), ("infrastructure", "980000.00"), ("social_security", "150000.00"))


# --- households ----------------------------------------------------------------------------------------------

_SURNAMES = "马王李张杨纳海刘田丁金冯何苏白"
_MALE = ("建国", "德福", "占林", "国庆", "宝山", "海军", "志强", "成林", "少华", "永福", "文明", "学军")
_FEMALE = ("秀兰", "丽娟", "晓燕", "桂英", "玉梅", "春花", "淑珍", "小红", "海燕", "彩霞", "兰英", "金花")
_CAUSES = ("illness", "disability", "education", "disaster", "lack_land", "lack_water", "lack_skills",
           "lack_labor", "lack_funds", "transport", "low_motivation")


def _person_id(born: date, male: bool, used: set[str], rng: random.Random) -> str:
    while True:
        seq = rng.randrange(0, 1000)
        if (seq % 2 == 1) != male:     # GB 11643: the 17th digit is odd for men
            seq = (seq + 1) % 1000
        number = idnumber.make("640122", born, seq)
        if number not in used:
            used.add(number)
            return number


def _born(rng: random.Random, age_from: int, age_to: int) -> date:
    return date(YEAR - rng.randint(age_from, age_to), rng.randint(1, 12), rng.randint(1, 28))


def demo_households(per_village: int = 25) -> Iterator[dict[str, Any]]:
    """Deterministic household bodies for ``POST /api/v1/households`` (CONTRACT §4), ``per_village`` each; the
    last two of each village are new identifications of 2019 and 2020, the others were identified 2014–2016."""
    used: set[str] = set()
    for v, village in enumerate(VILLAGES):
        rng = random.Random(village.code)
        for n in range(1, per_village + 1):
            surname = rng.choice(_SURNAMES)
            head_born = _born(rng, 28, 75)
            members = [{"name": surname + rng.choice(_MALE), "id_number": _person_id(head_born, True, used, rng),
                        "relation": "head", "health": rng.choice(("healthy", "healthy", "chronic", "serious")),
                        "labor": rng.choice(("normal", "normal", "weak", "skilled")), "education": "junior_high",
                        "in_school": False, "migrant_worker": rng.random() < 0.3}]
            if rng.random() < 0.85:
                born = date(head_born.year + rng.randint(-3, 3), rng.randint(1, 12), rng.randint(1, 28))
                members.append({"name": rng.choice(_SURNAMES) + rng.choice(_FEMALE),
                                "id_number": _person_id(born, False, used, rng), "relation": "spouse",
                                "health": "healthy", "labor": "normal", "education": "primary",
                                "in_school": False, "migrant_worker": False})
            for _ in range(rng.randint(0, 3)):
                male = rng.random() < 0.5
                born = date(min(YEAR - 1, head_born.year + rng.randint(20, 35)), rng.randint(1, 12),
                            rng.randint(1, 28))
                members.append({"name": surname + rng.choice(_MALE if male else _FEMALE),
                                "id_number": _person_id(born, male, used, rng),
                                "relation": "son" if male else "daughter", "health": "healthy",
                                "labor": "none" if YEAR - born.year < 16 else "normal",
                                "education": "primary", "in_school": YEAR - born.year < 19,
                                "migrant_worker": False})
            main_cause = rng.choice(_CAUSES)
            yield {
                "village_code": village.code,
                "address": f"宁夏回族自治区银川市贺兰县{village.name}{rng.randint(1, 9)}组{n}号",
                "phone": f"139{rng.randint(51000000, 51999999)}",
                "attribute": rng.choices(("general", "dibao", "tekun"), weights=(7, 2, 1))[0],
                "main_cause": main_cause,
                "other_causes": rng.sample([c for c in _CAUSES if c != main_cause], rng.randint(0, 2)),
                "identified_year": (rng.choice((2014, 2015, 2016)) if n < per_village - 1
                                    else 2019 if n < per_village else 2020),
                "members": members,
            }


# --- what became of them ----------------------------------------------------------------------------------------

# 国家农村贫困标准 (yuan per person and year, current prices) by year
POVERTY_LINES = {2014: "2800.00", 2015: "2855.00", 2016: "3000.00", 2017: "3335.00", 2018: "3535.00",
                 2019: "3747.00", 2020: "4000.00"}


@dataclass(frozen=True)
class Fate:
    """A household's history: the year its registration 公示 closed (None: that 公示 is open now), the year it
    exited (脱贫) after an exit 公示, returned to poverty (返贫) or was removed (清退)."""

    registered: int | None
    exited: int | None = None
    returned: int | None = None
    removed: int | None = None

    @property
    def poor_in_2020(self) -> bool:
        return self.registered is not None and self.removed is None and (self.exited is None or bool(self.returned))


def fate(index: int, body: dict[str, Any]) -> Fate:
    """The history of the ``index``-th household of :func:`demo_households` (deterministic): most exit in one of
    2016–2020, about one in six is still poor in 2020, a few returned to poverty in 2019, a few were removed in
    2017; the new identifications of 2020 in every other village are still in their 公示."""
    identified = body["identified_year"]
    if identified >= 2019:
        village = [v.code for v in VILLAGES].index(body["village_code"])
        return Fate(None if identified == 2020 and village % 2 == 0 else identified)
    exit_year = max(identified + 1, 2016 + index % 5)
    r = index % 20
    if r < 15 or r == 19:
        return Fate(identified, exited=2020 if r == 19 else exit_year)
    if r == 17:
        return Fate(identified, exited=max(identified + 1, 2016 + index % 2), returned=2019)
    if r == 18 and index % 40 == 18:
        return Fate(identified, removed=2017)
    return Fate(identified)


def income(index: int, members: int, per_capita: int) -> dict[str, str]:
    """An income body (yuan, household totals) with net per capita about ``per_capita``."""
    earned = per_capita * members + (index * 37) % 300
    expenses = (index * 53) % 200
    total = earned + expenses
    return {"wage": f"{total * 6 // 10}.00", "production": f"{total * 3 // 10}.00",
            "transfer": f"{total - total * 6 // 10 - total * 3 // 10}.00", "property": "0.00",
            "expenses": f"{expenses}.00"}


# 项目库: name, purpose, village, budget (yuan), how far it got — "settled" (验收, 尾款 paid, 报账), "accepted"
# (验收, 尾款 paid), "in_progress" (预付款 paid), "approved" (money committed, nothing paid yet)
PROJECTS = (
    ("欣荣村滩羊养殖圈舍建设项目", "industry", "640122100201", "800000.00", "settled"),
    ("银河村设施温室建设项目", "industry", "640122101201", "1200000.00", "in_progress"),
    ("兰光村村组道路硬化工程", "infrastructure", "640122102201", "600000.00", "settled"),
    ("丰登村危房改造项目", "housing", "640122200201", "450000.00", "accepted"),
    ("广荣村农村安全饮水巩固提升工程", "infrastructure", "640122100202", "280000.00", "approved"),
    ("隆源村危窑危房改造项目", "housing", "640122100203", "520000.00", "in_progress"),
)


# the partner bank that pays the demo's 到户补贴 batches: name, bank code
BANK = ("宁夏黄河农村商业银行贺兰支行", "NXRCU")
# title, village, yuan per household, the day its 公示 opened
BATCHES = (
    ("欣荣村2020年产业到户补贴（滩羊养殖）", "640122100201", "1500.00", (2020, 6, 2)),
    ("兰光村2020年产业到户补贴（设施种植）", "640122102201", "1200.00", (2020, 7, 6)),
)

