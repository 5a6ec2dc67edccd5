"""The bench county (10 townships × 20 villages) and its household files in the §9 columns, with Chinese labels
and valid, unique GB 11643 ID numbers: as CSV and as .xlsx saved as Excel saves it (shared strings)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import date, timedelta

import asyncpg

from services.registry import glossary as g
from services.registry.bulk.columns import COLUMNS
from shared import idnumber

COUNTY = "640122000000"
TOWNSHIPS = [f"640122{100 + t:03d}000" for t in range(10)]
VILLAGES = [f"{t[:9]}{v + 1:03d}" for t in TOWNSHIPS for v in range(20)]
SURNAMES = "马王李张刘杨赵黄周吴徐孙胡朱高林何郭罗"
GIVEN = "建国秀兰小军福海英明华玉梅志强丽娟文学成"
RELATIONS = ["户主", "配偶", "之子", "之女", "之父", "之母"]
SIZES = [1, 2, 3, 4, 5, 6]
WEIGHTS = [8, 14, 22, 28, 18, 10]        # mean ≈ 3.6 members
HEALTH = list(g.HEALTH_LABELS.values())
LABOR = list(g.LABOR_LABELS.values())
EDUCATION = list(g.EDUCATION_LABELS.values())
ATTRIBUTE = list(g.ATTRIBUTE_LABELS.values())
CAUSE = list(g.CAUSE_LABELS.values())


def generate(n: int, seed: int = 7) -> list[list]:
    rnd = random.Random(seed)
    rows: list[list] = []
    person = 0
    per_village: dict[str, int] = {}
    for i in range(n):
        village = VILLAGES[i % len(VILLAGES)]
        per_village[village] = per_village.get(village, 0) + 1
        no = f"{village}{per_village[village]:04d}"
        size = rnd.choices(SIZES, WEIGHTS)[0]
        address = f"宁夏回族自治区银川市贺兰县{village[-3:]}村{rnd.randint(1, 9)}组{rnd.randint(1, 99)}号"
        phone = f"13{rnd.randint(0, 9)}{rnd.randint(0, 99_999_999):08d}"
        attribute, cause = rnd.choice(ATTRIBUTE), rnd.choice(CAUSE)
        other = "、".join(c for c in rnd.sample(CAUSE, rnd.randint(0, 2)) if c != cause)
        year = rnd.randint(2014, 2020)
        for m in range(size):
            born = date(1935, 1, 1) + timedelta(days=person // 500)
            idn = idnumber.make("640122", born, (person % 500) * 2 + (1 if m != 1 else 0))
            person += 1
            rows.append([no, village, address, phone, attribute, cause, other, year,
                         rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN), idn, RELATIONS[m],
                         rnd.choice(HEALTH), rnd.choice(LABOR), rnd.choice(EDUCATION), rnd.choice("是否"),
                         rnd.choice("是否")])
    return rows


def csv_content(rows: list[list]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([c.label for c in COLUMNS])
    w.writerows(rows)
    return out.getvalue().encode()


def xlsx_content(rows: list[list]) -> bytes:
    """The rows as Excel and WPS save them: text in the shared strings table, numbers as numbers."""
    from xml.sax.saxutils import escape
    strings: dict[str, int] = {}

    def cell(ref: str, value) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, int):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>'

    letters = [chr(65 + i) for i in range(len(COLUMNS))]
    sheet = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="' + MAIN + '"><sheetData>']
    for n, r in enumerate([[c.label for c in COLUMNS], *rows], start=1):
        sheet.append(f'<row r="{n}">' + "".join(cell(f"{a}{n}", v) for a, v in zip(letters, r)) + "</row>")
    sheet.append("</sheetData></worksheet>")
    shared = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN}" count="{len(strings)}" '
              f'uniqueCount="{len(strings)}">' + "".join(f"<si><t>{escape(t)}</t></si>" for t in strings) + "</sst>")
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
        '<sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
        f'Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": "".join(sheet),
        "xl/sharedStrings.xml": shared,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return out.getvalue()


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


async def seed_regions(conn: asyncpg.Connection) -> None:
    records = [(COUNTY, "贺兰县", "county", "640100000000", 180_000)]
    records += [(t, f"第{i + 1}镇", "township", COUNTY, 18_000) for i, t in enumerate(TOWNSHIPS)]
    records += [(v, f"{v[-3:]}村", "village", v[:9] + "000", 900) for v in VILLAGES]
    await conn.copy_records_to_table("region", records=[(*r, 1) for r in records],
                                     columns=("code", "name", "level", "parent_code", "rural_population", "version"))
