"""Registry test helpers: a small region tree, valid ID numbers, household bodies."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from shared import idnumber
from shared.testing import auth
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE

OTHER_VILLAGE = "640122101001"      # in OTHER_TOWNSHIP
_counter = itertools.count(1)


def new_id(*, male: bool = True, born: date | None = None) -> str:
    """A fresh valid GB 11643 ID number (distinct on every call)."""
    n = next(_counter)
    born = born or date(1960, 1, 1) + timedelta(days=n * 37)
    seq = (n * 2 + (1 if male else 0)) % 1000
    return idnumber.make("640122", born, seq)


def member(relation: str = "head", **kw) -> dict:
    body = {"name": kw.pop("name", "马建国" if relation == "head" else "李秀兰"), "id_number": kw.pop("id_number", None)
            or new_id(male=relation in ("head", "son")), "relation": relation, "health": "healthy",
            "labor": "normal", "education": "junior_high", "in_school": False, "migrant_worker": False}
    body.update(kw)
    return body


def household(village: str = VILLAGE, members: list[dict] | None = None, **kw) -> dict:
    body = {"village_code": village, "address": "宁夏回族自治区银川市贺兰县欣荣村3组12号", "phone": "13951234567",
            "attribute": "dibao", "main_cause": "illness", "other_causes": ["lack_skills"], "identified_year": 2016,
            "payout_account": {"bank_code": "NXRCU", "account_no": "6228480012345678901"},
            "members": members if members is not None else [member("head"), member("spouse")]}
    body.update(kw)
    return body


@pytest.fixture
async def regions(registry, token):
    """贺兰县 with two townships and a village in each."""
    h = auth(token())
    for code, name, pop in ((COUNTY, "贺兰县", 120000), (TOWNSHIP, "洪广镇", 20000), (OTHER_TOWNSHIP, "金贵镇", 18000),
                            (VILLAGE, "欣荣村", 900), (OTHER_VILLAGE, "银河村", 800)):
        r = await registry.post("/api/v1/regions", json={"code": code, "name": name, "rural_population": pop},
                                headers=h)
        assert r.status_code == 201, r.text


@pytest.fixture
def create(registry, token, regions):
    """``await create(body=None, as_=token)`` → the 201 answer's JSON."""
    async def make(body: dict | None = None, headers: dict | None = None) -> dict:
        r = await registry.post("/api/v1/households", json=body or household(), headers=headers or auth(token()))
        assert r.status_code == 201, r.text
        return r.json()
    return make
