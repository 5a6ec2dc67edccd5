"""扶贫项目: proposed by the township, approved and accepted by the county; funded from allocations of the
project's own purpose in a region that covers its village (专款专用: anything else is 409 earmark-violation);
paid in stages, never beyond what was funded, the final payment (尾款) only after 验收. Settling (报账) or
cancelling gives unpaid commitments back to their allocations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.clients import registry
from services.funds.glossary import (PAYMENT_STAGE_LABELS, PROJECT_STATUS_LABELS, PURPOSE_LABELS, EntryKind,
                                     PaymentStage, ProjectAction, ProjectStatus)
from services.funds.ledger import service as ledger
from services.funds.projects import repository as repo
from services.funds.projects.models import Project, ProjectFunding, ProjectPayment
from services.funds.projects.schemas import (FundingIn, FundingRead, PaymentIn, PaymentRead, ProjectCreate,
                                             ProjectRead, TransitionIn)
from shared import audit, regions
from shared.auth import Principal, Role
from shared.http import ServiceClient
from shared.money import from_fen, to_fen
from shared.pagination import decode_cursor, page
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable

P = ProjectStatus
COUNTY = frozenset({Role.county_admin})
TOWNSHIP = frozenset({Role.county_admin, Role.township_officer})
# action → (from, to, who may)
MOVES: dict[ProjectAction, tuple[frozenset[str], ProjectStatus, frozenset[Role]]] = {
    ProjectAction.approve: (frozenset({P.proposed}), P.approved, COUNTY),
    ProjectAction.reject: (frozenset({P.proposed}), P.rejected, COUNTY),
    ProjectAction.start: (frozenset({P.approved}), P.in_progress, TOWNSHIP),
    ProjectAction.inspect: (frozenset({P.in_progress}), P.inspected, TOWNSHIP),
    ProjectAction.accept: (frozenset({P.inspected}), P.accepted, COUNTY),
    ProjectAction.settle: (frozenset({P.accepted}), P.settled, frozenset({Role.county_admin, Role.finance_officer})),
    ProjectAction.cancel: (frozenset({P.proposed, P.approved, P.in_progress}), P.cancelled, COUNTY),
}
FUNDABLE = frozenset({P.approved, P.in_progress, P.inspected, P.accepted})
PAYABLE = frozenset({P.in_progress, P.inspected, P.accepted})


def _field_error(loc: list, msg: str) -> Unprocessable:
    return Unprocessable(msg, errors=[{"loc": ["body", *loc], "msg": msg, "type": "value_error"}])


def _unpaid(fundings: Sequence[ProjectFunding]) -> int:
    return sum(f.amount - f.spent - f.released for f in fundings)


def advance_limit(budget: int, share: Decimal) -> int:
    """The most (fen) a project pays before 验收: ``share`` of its budget, rounded down to the fen. Of the budget,
    not of the funded amount: the advance is agreed against the contract price, which does not move as money
    arrives (what is paid never exceeds what is funded in any case)."""
    return int((Decimal(budget) * share).to_integral_value(rounding=ROUND_FLOOR))


def to_read(p: Project, totals: repo.Totals, share: Decimal) -> ProjectRead:
    return ProjectRead(
        id=p.id, name=p.name, purpose=p.purpose, purpose_label=PURPOSE_LABELS[p.purpose], village_code=p.village_code,
        budget=from_fen(p.budget), funded=from_fen(totals.funded), paid=from_fen(totals.paid),
        unpaid=from_fen(totals.unpaid), advance_limit=from_fen(advance_limit(p.budget, share)),
        beneficiary_household_ids=p.beneficiary_household_ids, status=p.status,
        status_label=PROJECT_STATUS_LABELS[p.status], proposed_by=p.proposed_by, created_at=p.created_at,
        version=p.version)


async def read(session: AsyncSession, p: Project, *, share: Decimal) -> ProjectRead:
    return to_read(p, (await repo.totals(session, [p.id]))[p.id], share)


async def read_many(session: AsyncSession, projects: Sequence[Project], *, share: Decimal) -> list[ProjectRead]:
    totals = await repo.totals(session, [p.id for p in projects])
    return [to_read(p, totals[p.id], share) for p in projects]


def funding_read(f: ProjectFunding) -> FundingRead:
    return FundingRead(id=f.id, project_id=f.project_id, allocation_id=f.allocation_id, amount=from_fen(f.amount),
                       spent=from_fen(f.spent), released=from_fen(f.released), entry_id=f.entry_id,
                       created_by=f.created_by, created_at=f.created_at)


def payment_read(x: ProjectPayment) -> PaymentRead:
    return PaymentRead(id=x.id, project_id=x.project_id, amount=from_fen(x.amount), payee=x.payee, stage=x.stage,
                       stage_label=PAYMENT_STAGE_LABELS[x.stage], memo=x.memo, entry_ids=x.entry_ids,
                       created_by=x.created_by, created_at=x.created_at)


async def create(*, session: AsyncSession, principal: Principal, services: ServiceClient,
                 project_in: ProjectCreate) -> Project:
    village = project_in.village_code
    if regions.level_of(village) != "village" or not principal.covers(village):
        raise _field_error(["village_code"], "Give a village inside your own region")
    if await registry.region(services, village) is None:
        raise _field_error(["village_code"], "No such village in the registry")
    if project_in.beneficiary_household_ids:
        found = await registry.eligibility(services, project_in.beneficiary_household_ids, village)
        errors = [{"loc": ["body", "beneficiary_household_ids", n], "msg": ", ".join(found[i]["reasons"]),
                   "type": "value_error"} for n, i in enumerate(project_in.beneficiary_household_ids)
                  if not found[i]["eligible"]]
        if errors:
            raise Unprocessable(f"{len(errors)} beneficiary household(s) cannot benefit", errors=errors)
    p = Project(name=project_in.name, purpose=project_in.purpose.value, village_code=village,
                budget=to_fen(project_in.budget), beneficiary_household_ids=project_in.beneficiary_household_ids,
                proposed_by=principal.sub)
    session.add(p)
    await session.flush()
    await audit.record(session, actor=principal.sub, action="project.propose", entity="project", entity_id=p.id,
                       diff=project_in.model_dump(mode="json"))
    return p


async def get(*, session: AsyncSession, principal: Principal, project_id: int, lock: bool = False) -> Project:
    p = await repo.one(session, principal, project_id, lock=lock)
    if p is None:
        raise NotFound("No such project")
    return p


async def list_(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[Project], str | None]:
    """The caller's projects in ``region`` (by default the caller's own region)."""
    if region is not None and not principal.covers(region):
        raise NotFound("No such region")
    key = decode_cursor(cursor, id=int)
    rows = await repo.page_of(session, principal, within=region, status=status, after=key["id"] if key else None,
                              limit=limit + 1)
    return page(rows, limit, lambda p: {"id": p.id})


async def _release_unpaid(session: AsyncSession, p: Project, actor: str) -> int:
    """Give every unpaid commitment back to its allocation (committed → available), in one posting."""
    fundings = await repo.fundings(session, p.id, lock=True)
    acc = await ledger.accounts(session, {f.allocation_id for f in fundings})
    entries, total = [], 0
    for f in fundings:
        rest = f.amount - f.spent - f.released
        if rest:
            entries.append(ledger.Entry(kind=EntryKind.release, ref=f"project:{p.id}", actor=actor, memo=p.name,
                                        lines=[(acc[(f.allocation_id, "committed")]["id"], -rest),
                                               (acc[(f.allocation_id, "available")]["id"], rest)]))
            f.released += rest
            total += rest
    await ledger.post_entries(session, entries)
    return total


async def transition(*, session: AsyncSession, principal: Principal, project_id: int, move: TransitionIn
                     ) -> Project:
    p = await get(session=session, principal=principal, project_id=project_id, lock=True)
    sources, target, who = MOVES[move.action]
    if principal.role not in who and not (move.action is ProjectAction.cancel and p.status == P.proposed
                                          and principal.role is Role.township_officer):
        raise Forbidden(f"Your role may not {move.action.value} a project")
    if p.status not in sources:
        raise Conflict(f"A {p.status} project cannot be {move.action.value}d", slug="illegal-transition",
                       status_now=p.status)
    released = await _release_unpaid(session, p, principal.sub) if target in (P.settled, P.cancelled) else 0
    before = p.status
    p.status = target.value
    p.status_since = datetime.now(UTC)
    p.version += 1
    await audit.record(session, actor=principal.sub, action=f"project.{move.action.value}", entity="project",
                       entity_id=p.id, diff={"from": before, "to": p.status, "reason": move.reason,
                                             "released": f"{from_fen(released):f}"})
    return p


async def fund(*, session: AsyncSession, principal: Principal, project_id: int, funding_in: FundingIn
               ) -> ProjectFunding:
    p = await get(session=session, principal=principal, project_id=project_id, lock=True)
    if p.status not in FUNDABLE:
        raise Conflict(f"A {p.status} project takes no funding (from approval until 报账)", slug="illegal-transition")
    allocation = await allocations.get(session=session, principal=principal, allocation_id=funding_in.allocation_id)
    fen = to_fen(funding_in.amount)
    attempt = ledger.SpendAttempt(actor=principal.sub, allocation_id=allocation.id, purpose=allocation.purpose,
                                  region_code=allocation.region_code, amount=f"{from_fen(fen):f}",
                                  target=f"project:{p.id}", target_purpose=p.purpose, target_region=p.village_code)
    if allocation.purpose != p.purpose:
        raise ledger.EarmarkViolation(f"Allocation {allocation.id} is for {PURPOSE_LABELS[allocation.purpose]}, the "
                                      f"project for {PURPOSE_LABELS[p.purpose]}", attempt=attempt)
    if not regions.covers(allocation.region_code, p.village_code):
        raise ledger.EarmarkViolation(f"Allocation {allocation.id} is for region {allocation.region_code}; the "
                                      f"project is in {p.village_code}", attempt=attempt)
    funded = (await repo.totals(session, [p.id]))[p.id].funded
    if funded + fen > p.budget:
        raise Conflict(f"The project's budget is {from_fen(p.budget)}; {from_fen(funded)} is funded already",
                       slug="over-budget")
    acc = await ledger.accounts(session, [allocation.id])
    entry = await ledger.post(session, kind=EntryKind.commit, ref=f"project:{p.id}", actor=principal.sub, memo=p.name,
                              lines=[(acc[(allocation.id, "available")]["id"], -fen),
                                     (acc[(allocation.id, "committed")]["id"], fen)])
    funding = ProjectFunding(project_id=p.id, allocation_id=allocation.id, amount=fen, entry_id=entry,
                             created_by=principal.sub)
    session.add(funding)
    p.version += 1
    await session.flush()
    await audit.record(session, actor=principal.sub, action="project.fund", entity="project", entity_id=p.id,
                       diff={**funding_in.model_dump(mode="json"), "funding_id": funding.id, "entry_id": entry})
    return funding


async def pay(*, session: AsyncSession, principal: Principal, project_id: int, payment_in: PaymentIn,
              advance_share: Decimal) -> ProjectPayment:
    """Spend from the project's commitments, oldest funding first, in one posting (its accounts locked in one
    order, whatever allocations it draws on); never more than is committed and unpaid, and before 验收 never
    beyond ``advance_share`` of the budget."""
    p = await get(session=session, principal=principal, project_id=project_id, lock=True)
    if p.status not in PAYABLE:
        raise Conflict(f"A {p.status} project makes no payments", slug="illegal-transition")
    if payment_in.stage is PaymentStage.final and p.status != P.accepted:
        raise Conflict("The final payment (尾款) waits for 验收", slug="not-accepted")
    fen = to_fen(payment_in.amount)
    fundings = await repo.fundings(session, p.id, lock=True)
    if fen > _unpaid(fundings):
        raise Conflict(f"Only {from_fen(_unpaid(fundings))} of the project's funding is unpaid", slug="over-funding")
    paid, limit = sum(f.spent for f in fundings), advance_limit(p.budget, advance_share)
    if p.status != P.accepted and paid + fen > limit:
        share = f"{(advance_share * 100).normalize():f}%"
        raise Conflict(f"Before 验收 the project pays at most {share} of its budget, {from_fen(limit)}; "
                       f"{from_fen(paid)} is paid, so at most {from_fen(max(limit - paid, 0))} more",
                       slug="advance-limit", title="Beyond the advance share paid before 验收",
                       limit=f"{from_fen(limit):f}", paid=f"{from_fen(paid):f}", share=f"{advance_share}")
    acc = await ledger.accounts(session, {f.allocation_id for f in fundings})
    memo = f"{payment_in.payee} {PAYMENT_STAGE_LABELS[payment_in.stage]}"
    entries, rest = [], fen
    for f in fundings:
        take = min(rest, f.amount - f.spent - f.released)
        if take <= 0:
            continue
        entries.append(ledger.Entry(kind=EntryKind.spend, ref=f"project:{p.id}", actor=principal.sub, memo=memo,
                                    lines=[(acc[(f.allocation_id, "committed")]["id"], -take),
                                           (acc[(f.allocation_id, "spent")]["id"], take)]))
        f.spent += take
        rest -= take
        if rest == 0:
            break
    entry_ids = await ledger.post_entries(session, entries)
    payment = ProjectPayment(project_id=p.id, amount=fen, payee=payment_in.payee, stage=payment_in.stage.value,
                             memo=payment_in.memo, entry_ids=entry_ids, created_by=principal.sub)
    session.add(payment)
    p.version += 1
    await session.flush()
    await audit.record(session, actor=principal.sub, action="project.pay", entity="project", entity_id=p.id,
                       diff={**payment_in.model_dump(mode="json"), "payment_id": payment.id, "entry_ids": entry_ids})
    return payment


@dataclass(frozen=True)
class Kind:
    """A project's fundings or its payments: the rows, how each reads, the 404 of an unknown one."""

    model: type[ProjectFunding] | type[ProjectPayment]
    read: Callable[[Any], FundingRead | PaymentRead]
    missing: str


FUNDINGS = Kind(ProjectFunding, funding_read, "No such funding of this project")
PAYMENTS = Kind(ProjectPayment, payment_read, "No such payment of this project")


async def children(*, session: AsyncSession, principal: Principal, project_id: int, kind: Kind, limit: int,
                   cursor: str | None) -> tuple[list[Any], str | None]:
    """A page of the project's fundings or payments, oldest first."""
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    await get(session=session, principal=principal, project_id=project_id)
    rows, next_cursor = page(await repo.children(session, kind.model, project_id, after=after, limit=limit + 1),
                             limit, lambda x: {"id": x.id})
    return [kind.read(x) for x in rows], next_cursor


async def child(*, session: AsyncSession, principal: Principal, project_id: int, kind: Kind, child_id: int) -> Any:
    await get(session=session, principal=principal, project_id=project_id)
    if (x := await repo.child(session, kind.model, project_id, child_id)) is None:
        raise NotFound(kind.missing)
    return kind.read(x)
