"""部门筛查预警 rules: one table, one SQL statement.

Each rule is a row of :data:`RULES`: a code, its Chinese label, the SQL condition over a household's facts for a
year, and the figures stored with the warning (what made it fire). :func:`statement` puts them all into one
``INSERT … SELECT`` over the households the screening rows matched, so a whole import is judged set-based.

The facts, per household and year (the year is the year of the department rows, ``发生日期``):
- ``medical_fen``: 自付医疗费用 in the year, summed over every screening row of the household (all imports);
- ``education_fen``, ``disaster_fen``: 教育支出 and 灾害损失 the same way;
- ``net_fen``: the household's net income for the year (``income``: wage + production + transfer + property −
  expenses), NULL when none is recorded; ``per_capita_fen`` its per-capita net income;
- ``prev_per_capita_fen``: the per-capita net income of the year before, NULL when none is recorded;
- ``threshold_fen``: the 监测标准 that applies to the household's village for the year, NULL when none is set.
A rule whose figures are missing (no income, no threshold) does not fire.

Knobs (module constants; change them here, the statement follows):
- :data:`MEDICAL_SHARE` (0.50): ``medical_burden`` fires when self-paid medical costs are at least this share of
  the household's net income (≥: exactly half fires; a household with no or negative net income and any
  self-paid cost fires too);
- :data:`INCOME_FALL` (0.30): ``income_drop`` fires when per-capita net income fell by at least this share from
  the year before (≥: exactly 30% fires; only when last year's was above zero);
- ``income_below_threshold`` has no knob: per-capita net income strictly below the applicable 监测标准 (equal
  does not fire);
- :data:`RIGID_KINDS`: what ``rigid_spending`` counts (medical + education + disaster losses); it fires when their
  sum is strictly above the household's net income (equal does not fire);
- :data:`WATCHED_STATUSES`: which households are screened: the ones a monitoring case may be opened for (exited
  脱贫户, ordinary 一般农户, pending 识别中); registered and returned households are already 建档立卡, removed ones gone.

One open warning per household, rule and year: a rule that fires again (another import, the same file twice)
adds nothing while one is open or a case was opened from it; a dismissed warning fires again only if its figures
changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.registry.monitoring.thresholds.repository import APPLICABLE

MEDICAL_SHARE = Decimal("0.50")
INCOME_FALL = Decimal("0.30")
MEDICAL_KINDS = ("self_paid_medical",)
EDUCATION_KINDS = ("education_cost",)
DISASTER_KINDS = ("disaster_loss",)
RIGID_KINDS = MEDICAL_KINDS + EDUCATION_KINDS + DISASTER_KINDS
WATCHED_STATUSES = ("exited", "ordinary", "pending")


def _yuan(fen: str) -> str:
    """SQL: fen as a money string with two decimals ("3000.00"), NULL stays NULL."""
    return f"(({fen})::numeric / 100)::numeric(20,2)::text"


def _share(num: str, den: str) -> str:
    return f"CASE WHEN {den} > 0 THEN round(({num})::numeric / {den}, 4)::text END"


@dataclass(frozen=True)
class Rule:
    code: str
    label: str
    fires: str      # SQL condition over the facts (``f.``)
    figures: str    # SQL ``jsonb_build_object`` arguments: what made it fire


RULES: tuple[Rule, ...] = (
    Rule("medical_burden", "自付医疗费用占家庭纯收入比例过高",
         f"f.medical_fen > 0 AND f.net_fen IS NOT NULL AND f.medical_fen >= {MEDICAL_SHARE} * f.net_fen",
         f"'self_paid_medical', {_yuan('f.medical_fen')}, 'net_income', {_yuan('f.net_fen')}, "
         f"'share', {_share('f.medical_fen', 'f.net_fen')}, 'at_least', '{MEDICAL_SHARE}'"),
    Rule("income_below_threshold", "人均纯收入低于监测标准",
         "f.per_capita_fen IS NOT NULL AND f.threshold_fen IS NOT NULL AND f.per_capita_fen < f.threshold_fen",
         f"'per_capita_net_income', {_yuan('f.per_capita_fen')}, 'threshold', {_yuan('f.threshold_fen')}"),
    Rule("income_drop", "人均纯收入较上年大幅下降",
         f"f.prev_per_capita_fen > 0 AND f.per_capita_fen IS NOT NULL "
         f"AND f.prev_per_capita_fen - f.per_capita_fen >= {INCOME_FALL} * f.prev_per_capita_fen",
         f"'per_capita_net_income', {_yuan('f.per_capita_fen')}, "
         f"'last_year_per_capita_net_income', {_yuan('f.prev_per_capita_fen')}, "
         f"'fall', {_share('f.prev_per_capita_fen - f.per_capita_fen', 'f.prev_per_capita_fen')}, "
         f"'at_least', '{INCOME_FALL}'"),
    Rule("rigid_spending", "刚性支出超过家庭纯收入",
         "f.net_fen IS NOT NULL AND f.medical_fen + f.education_fen + f.disaster_fen > 0 "
         "AND f.medical_fen + f.education_fen + f.disaster_fen > f.net_fen",
         f"'self_paid_medical', {_yuan('f.medical_fen')}, 'education', {_yuan('f.education_fen')}, "
         f"'disaster_loss', {_yuan('f.disaster_fen')}, "
         f"'rigid_spending', {_yuan('f.medical_fen + f.education_fen + f.disaster_fen')}, "
         f"'net_income', {_yuan('f.net_fen')}"),
)
LABELS = {r.code: r.label for r in RULES}


def _in(codes: tuple[str, ...]) -> str:
    return ", ".join(f"'{c}'" for c in codes)


def statement(pairs: str) -> str:
    """The one statement that raises every rule's warnings for the (household_id, year) pairs ``pairs`` selects
    (a SQL query), within the village range ``:lo``–``:hi``, tagged with ``:job_id``; it returns each new
    warning's rule."""
    fired = "\n  UNION ALL\n".join(
        f"  SELECT f.household_id, f.village_code, f.year, '{r.code}' AS rule, jsonb_build_object({r.figures}) "
        f"AS figures FROM facts f WHERE {r.fires}" for r in RULES)
    threshold = APPLICABLE.format(year="v.year", village="v.village_code")
    return f"""
WITH pairs AS ({pairs}),
base AS (
  SELECT p.household_id, p.year, h.village_code FROM pairs p JOIN household h ON h.id = p.household_id
  WHERE h.status IN ({_in(WATCHED_STATUSES)}) AND h.village_code BETWEEN :lo AND :hi
),
sums AS (
  SELECT s.household_id, s.year,
         coalesce(sum(s.amount_fen) FILTER (WHERE s.kind IN ({_in(MEDICAL_KINDS)})), 0) AS medical_fen,
         coalesce(sum(s.amount_fen) FILTER (WHERE s.kind IN ({_in(EDUCATION_KINDS)})), 0) AS education_fen,
         coalesce(sum(s.amount_fen) FILTER (WHERE s.kind IN ({_in(DISASTER_KINDS)})), 0) AS disaster_fen
  FROM screening_row s JOIN base b ON b.household_id = s.household_id AND b.year = s.year
  GROUP BY s.household_id, s.year
),
thresholds AS MATERIALIZED (   -- one look-up per village and year, not per household
  SELECT v.village_code, v.year, t.amount_fen
  FROM (SELECT DISTINCT village_code, year FROM base) v LEFT JOIN LATERAL ({threshold}) t ON true
),
facts AS (
  SELECT b.household_id, b.year, b.village_code, s.medical_fen, s.education_fen, s.disaster_fen,
         i.wage_fen + i.production_fen + i.transfer_fen + i.property_fen - i.expenses_fen AS net_fen,
         i.per_capita_net_fen AS per_capita_fen, p.per_capita_net_fen AS prev_per_capita_fen,
         t.amount_fen AS threshold_fen
  FROM base b JOIN sums s ON s.household_id = b.household_id AND s.year = b.year
  LEFT JOIN income i ON i.household_id = b.household_id AND i.year = b.year
  LEFT JOIN income p ON p.household_id = b.household_id AND p.year = b.year - 1
  LEFT JOIN thresholds t ON t.village_code = b.village_code AND t.year = b.year
),
fired AS (
{fired}
)
INSERT INTO monitoring_warning (household_id, village_code, rule, year, figures, job_id)
SELECT w.household_id, w.village_code, w.rule, w.year, w.figures, :job_id FROM fired w
WHERE NOT EXISTS (SELECT 1 FROM monitoring_warning o
                  WHERE o.household_id = w.household_id AND o.rule = w.rule AND o.year = w.year
                    AND (o.status <> 'dismissed' OR o.figures = w.figures))
ON CONFLICT (household_id, rule, year) WHERE status = 'open' DO NOTHING
RETURNING rule"""
