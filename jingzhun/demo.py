"""The demo county (``jingzhun up --demo``): 贺兰县, Ningxia, seeded through the public API at the gateway.

Everything goes through HTTP as the bootstrap administrator, exactly as a client would, so the demo also
exercises the stack. Each step is idempotent (409 means "already there"; fund sources are looked up first),
and ``jingzhun up`` runs the seed once per data dir (a marker file), so a second start adds nothing.

To seed more (allocations, …) when their endpoints exist: write one ``seed_<thing>(api)`` step
returning a count and add it to :data:`STEPS`. Households come from :func:`demo_households` (valid GB 11643 ID
numbers, deterministic).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from shared import idnumber

YEAR = 2020                       # 脱贫攻坚收官之年: the work plans the demo is drawn from
DEMO_PASSWORD = "Jingzhun-Demo-2020"   # every demo user except the bootstrap admin


class SeedError(Exception):
    pass


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


class Api:
    """The gateway, logged in as one user; answers are JSON, failures :class:`SeedError`."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def login(self, username: str, password: str | None) -> None:
        if not password:
            raise SeedError(f"the password of {username!r} is unknown; set JINGZHUN_ADMIN_PASSWORD")
        r = self.client.post("/api/v1/auth/token",
                             data={"grant_type": "password", "username": username, "password": password})
        if r.status_code != 200:
            raise SeedError(f"cannot log in as {username!r} ({r.status_code}); if this data dir was started "
                            "before without --demo, set JINGZHUN_ADMIN_PASSWORD to that admin's password")
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def create(self, path: str, body: dict[str, Any]) -> bool:
        """POST; True when created, False when it already existed (409)."""
        r = self.client.post(path, json=body)
        if r.status_code in (200, 201):
            return True
        if r.status_code == 409:
            return False
        raise SeedError(f"POST {path} {body}: {r.status_code} {r.text[:500]}")

    def put(self, path: str, body: dict[str, Any]) -> Any:
        r = self.client.put(path, json=body)
        if r.status_code not in (200, 201):
            raise SeedError(f"PUT {path} {body}: {r.status_code} {r.text[:500]}")
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        r = self.client.get(path, params=params)
        if r.status_code != 200:
            raise SeedError(f"GET {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def list_all(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.get(path, limit=500, **params, **({"cursor": cursor} if cursor else {}))
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return


def seed_regions(api: Api) -> int:
    """The county, its four townships and thirteen villages (parents first)."""
    return sum(api.create("/api/v1/regions", {"code": r.code, "name": r.name,
                                              "rural_population": r.rural_population}) for r in REGIONS)


def seed_users(api: Api) -> int:
    return sum(api.create("/api/v1/auth/users", {"username": u, "password": DEMO_PASSWORD, "display_name": name,
                                                 "phone": phone, "role": role, "region_code": region})
               for u, name, role, region, phone in USERS)


def seed_fund_sources(api: Api) -> int:
    """Fund sources have no natural key in the API, so look before creating."""
    existing = {(s["name"], s["year"]) for s in api.list_all("/api/v1/fund-sources", year=YEAR)}
    created = 0
    for name, level, doc_no in FUND_SOURCES:
        if (name, YEAR) not in existing:
            created += api.create("/api/v1/fund-sources", {"name": name, "level": level, "doc_no": doc_no,
                                                           "year": YEAR})
    return created


# per fund source: the purpose and amount (yuan) allocated to the county, as a 资金下达 document would
ALLOCATIONS = (("industry", "3200000.00"), ("education", "860000.00"), ("housing", "1250000.00"),
               ("loan_interest", "420000.00"), ("infrastructure", "980000.00"), ("social_security", "150000.00"))


def seed_allocations(api: Api) -> int:
    """Each demo fund source's money allocated to the county for one purpose (once: a source that already has an
    allocation is left alone)."""
    taken = {a["source_id"] for a in api.list_all("/api/v1/allocations", region=COUNTY.code, year=YEAR)}
    created = 0
    sources = [s for s in api.list_all("/api/v1/fund-sources", year=YEAR)
               if (s["name"], s["level"], s["doc_no"]) in set(FUND_SOURCES)]
    for source, (purpose, amount) in zip(sorted(sources, key=lambda s: s["id"]), ALLOCATIONS):
        if source["id"] not in taken:
            created += api.create("/api/v1/allocations", {
                "source_id": source["id"], "region_code": COUNTY.code, "purpose": purpose, "amount": amount,
                "year": YEAR, "doc_no": source["doc_no"]})
    return created


def seed_households(api: Api) -> int:
    """The demo households (pending 识别中, as a cadre's registration leaves them), each with a 帮扶责任人 of its
    village where one exists, incomes and 两不愁三保障 for the year, and one 五个一批 measure. A household
    that is already there (409: its head belongs to a household) is left as it is."""
    helpers = {u["region_code"]: u["id"] for u in api.list_all("/api/v1/auth/users") if u["role"] == "helper"}
    created = 0
    for n, body in enumerate(demo_households()):
        r = api.client.post("/api/v1/households", json=body)
        if r.status_code == 409:
            continue
        if r.status_code != 201:
            raise SeedError(f"POST /api/v1/households: {r.status_code} {r.text[:500]}")
        created += 1
        home = r.json()
        hid = home["id"]
        if helper := helpers.get(body["village_code"]):
            api.put(f"/api/v1/households/{hid}/helper", {"user_id": helper})
        earned = 2400 + (n * 379) % 9000
        api.put(f"/api/v1/households/{hid}/incomes/{YEAR}", {
            "wage": f"{earned * 0.6:.2f}", "production": f"{earned * 0.3:.2f}", "transfer": f"{earned * 0.1:.2f}",
            "property": "0.00", "expenses": f"{earned * 0.05:.2f}"})
        api.put(f"/api/v1/households/{hid}/assurances/{YEAR}", {
            "food": True, "clothing": True, "education": n % 7 != 0, "medical": True, "housing": n % 5 != 0,
            "water": True})
        api.create(f"/api/v1/households/{hid}/measures", {
            "batch": ("production", "education", "social_security", "ecology", "relocation")[n % 5],
            "kind": ("滩羊养殖", "雨露计划", "低保兜底", "生态护林员", "移民安置")[n % 5],
            "description": "帮扶措施（演示数据）", "year": YEAR})
    return created


STEPS: tuple[tuple[str, Callable[[Api], int]], ...] = (
    ("regions", seed_regions),
    ("users", seed_users),
    ("fund_sources", seed_fund_sources),
    ("allocations", seed_allocations),
    ("households", seed_households),
)


def seed(base_url: str, *, username: str, password: str | None, log: Callable[[str], None] = print,
         should_stop: Callable[[], bool] = lambda: False,
         transport: httpx.BaseTransport | None = None) -> dict[str, int] | None:
    """Run every step; returns what each created, or None when ``should_stop`` interrupted it."""
    with httpx.Client(base_url=base_url, timeout=30.0, transport=transport) as client:
        api = Api(client)
        api.login(username, password)
        summary: dict[str, int] = {}
        for name, step in STEPS:
            if should_stop():
                return None
            try:
                summary[name] = step(api)
            except httpx.HTTPError as exc:
                raise SeedError(f"{name}: {type(exc).__name__}: {exc}") from None
            log(f"demo {name}: {summary[name]} created")
        return summary


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
    """Deterministic household bodies for ``POST /api/v1/households`` (CONTRACT §4), ``per_village`` each."""
    used: set[str] = set()
    for village in VILLAGES:
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
                "identified_year": rng.choice((2014, 2015, 2016)),
                "members": members,
            }
