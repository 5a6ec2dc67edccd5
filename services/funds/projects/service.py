"""扶贫项目: proposed by the township, approved and accepted by the county; funded from allocations of the
project's own purpose in a region that covers its village (专款专用: anything else is 409 earmark-violation);
paid in stages, never beyond what was funded, the final payment (尾款) only after 验收. Settling (报账) or
cancelling gives unpaid commitments back to their allocations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.clients import registry
from services.funds.glossary import (PAYMENT_STAGE_LABELS, PROJECT_STATUS_LABELS, PURPOSE_LABELS, EntryKind,
                                     PaymentStage, ProjectAction, ProjectStatus)
from services.funds.ledger import service as ledger
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


async def _parts(session: AsyncSession, project_id: int, *, lock: bool = False
                 ) -> tuple[list[ProjectFunding], list[ProjectPayment]]:
    q = select(ProjectFunding).where(ProjectFunding.project_id == project_id).order_by(ProjectFunding.id)
    if lock:
        q = q.with_for_update()
    fundings = list((await session.execute(q)).scalars().all())
    payments = list((await session.execute(select(ProjectPayment).where(ProjectPayment.project_id == project_id)
                                            .order_by(ProjectPayment.id))).scalars().all())
    return fundings, payments


def _unpaid(fundings: Sequence[ProjectFunding]) -> int:
    return sum(f.amount - f.spent - f.released for f in fundings)


async def read(session: AsyncSession, p: Project) -> ProjectRead:
    fundings, payments = await _parts(session, p.id)
    return ProjectRead(
        id=p.id, name=p.name, purpose=p.purpose, purpose_label=PURPOSE_LABELS[p.purpose], village_code=p.village_code,
        budget=from_fen(p.budget), funded=from_fen(sum(f.amount for f in fundings)),
        paid=from_fen(sum(x.amount for x in payments)), unpaid=from_fen(_unpaid(fundings)),
        beneficiary_household_ids=p.beneficiary_household_ids, status=p.status,
        status_label=PROJECT_STATUS_LABELS[p.status], proposed_by=p.proposed_by, created_at=p.created_at,
        version=p.version,
        fundings=[FundingRead(id=f.id, allocation_id=f.allocation_id, amount=from_fen(f.amount), spent=from_fen(f.spent),
                              released=from_fen(f.released), created_by=f.created_by, created_at=f.created_at)
                  for f in fundings],
        payments=[PaymentRead(id=x.id, amount=from_fen(x.amount), payee=x.payee, stage=x.stage,
                              stage_label=PAYMENT_STAGE_LABELS[x.stage], memo=x.memo, created_by=x.created_by,
                              created_at=x.created_at) for x in payments])


async def create(*, session: AsyncSession, principal: Principal, services: ServiceClient,
                 project_in: ProjectCreate) -> Project:
    village = project_in.village_code
    if regions.level_of(village) != "village" or not principal.covers(village):
        raise _field_error(["village_code"], "Give a village inside your own region")
    if await registry.region(services, village) is None:
        raise _field_error(["village_code"], "No such village in the registry")
    if project_in.beneficiary_household_ids:
        answer = await services.request("POST", "registry", "/internal/households/eligibility", json={
            "household_ids": project_in.beneficiary_household_ids, "region_code": village})
        errors = [{"loc": ["body", "beneficiary_household_ids", n], "msg": ", ".join(i["reasons"]),
                   "type": "value_error"} for n, i in enumerate(answer["items"]) if not i["eligible"]]
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
    q = select(Project).where(Project.id == project_id)
    if lock:
        q = q.with_for_update()
    p = (await session.execute(q)).scalars().first()
    if p is None or not principal.covers(p.village_code):
        raise NotFound("No such project")
    return p


async def list_(*, session: AsyncSession, principal: Principal, region: str | None, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[Project], str | None]:
    scope = region or principal.region
    q = select(Project)
    if scope:
        if not principal.covers(scope):
            raise NotFound("No such region")
        q = q.where(Project.village_code.startswith(regions.prefix(scope)))
    if status is not None:
        q = q.where(Project.status == status)
    if (key := decode_cursor(cursor, id=int)) is not None:
        q = q.where(Project.id > key["id"])
    rows = list((await session.execute(q.order_by(Project.id).limit(limit + 1))).scalars().all())
    return page(rows, limit, lambda p: {"id": p.id})


async def _release_unpaid(session: AsyncSession, p: Project, actor: str) -> int:
    """Give every unpaid commitment back to its allocation (committed → available)."""
    fundings, _ = await _parts(session, p.id, lock=True)
    acc = await ledger.accounts(session, {f.allocation_id for f in fundings})
    total = 0
    for f in fundings:
        rest = f.amount - f.spent - f.released
        if rest:
            await ledger.post(session, kind=EntryKind.release, ref=f"project:{p.id}", actor=actor, memo=p.name,
                              lines=[(acc[(f.allocation_id, "committed")]["id"], -rest),
                                     (acc[(f.allocation_id, "available")]["id"], rest)])
            f.released += rest
            total += rest
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


async def fund(*, session: AsyncSession, principal: Principal, project_id: int, funding_in: FundingIn) -> Project:
    p = await get(session=session, principal=principal, project_id=project_id, lock=True)
    if p.status not in FUNDABLE:
        raise Conflict(f"A {p.status} project takes no funding (from approval until 报账)", slug="illegal-transition")
    allocation = await allocations.get(session=session, principal=principal, allocation_id=funding_in.allocation_id)
    if allocation.purpose != p.purpose:
        raise ledger.EarmarkViolation(f"Allocation {allocation.id} is for {PURPOSE_LABELS[allocation.purpose]}, the project "
                               f"for {PURPOSE_LABELS[p.purpose]}")
    if not regions.covers(allocation.region_code, p.village_code):
        raise ledger.EarmarkViolation(f"Allocation {allocation.id} is for region {allocation.region_code}; the project is "
                               f"in {p.village_code}")
    fen = to_fen(funding_in.amount)
    fundings, _ = await _parts(session, p.id)
    funded = sum(f.amount for f in fundings)
    if funded + fen > p.budget:
        raise Conflict(f"The project's budget is {from_fen(p.budget)}; {from_fen(funded)} is funded already",
                       slug="over-budget")
    acc = await ledger.accounts(session, [allocation.id])
    entry = await ledger.post(session, kind=EntryKind.commit, ref=f"project:{p.id}", actor=principal.sub, memo=p.name,
                              lines=[(acc[(allocation.id, "available")]["id"], -fen),
                                     (acc[(allocation.id, "committed")]["id"], fen)])
    session.add(ProjectFunding(project_id=p.id, allocation_id=allocation.id, amount=fen, entry_id=entry,
                               created_by=principal.sub))
    p.version += 1
    await session.flush()
    await audit.record(session, actor=principal.sub, action="project.fund", entity="project", entity_id=p.id,
                       diff={**funding_in.model_dump(mode="json"), "entry_id": entry})
    return p


async def pay(*, session: AsyncSession, principal: Principal, project_id: int, payment_in: PaymentIn) -> Project:
    """Spend from the project's commitments, oldest funding first; never more than is committed and unpaid."""
    p = await get(session=session, principal=principal, project_id=project_id, lock=True)
    if p.status not in PAYABLE:
        raise Conflict(f"A {p.status} project makes no payments", slug="illegal-transition")
    if payment_in.stage is PaymentStage.final and p.status != P.accepted:
        raise Conflict("The final payment (尾款) waits for 验收", slug="not-accepted")
    fen = to_fen(payment_in.amount)
    fundings, _ = await _parts(session, p.id, lock=True)
    if fen > _unpaid(fundings):
        raise Conflict(f"Only {from_fen(_unpaid(fundings))} of the project's funding is unpaid", slug="over-funding")
    acc = await ledger.accounts(session, {f.allocation_id for f in fundings})
    entries, rest = [], fen
    for f in fundings:
        take = min(rest, f.amount - f.spent - f.released)
        if take <= 0:
            continue
        entries.append(await ledger.post(session, kind=EntryKind.spend, ref=f"project:{p.id}", actor=principal.sub,
                                         memo=f"{payment_in.payee} {PAYMENT_STAGE_LABELS[payment_in.stage]}",
                                         lines=[(acc[(f.allocation_id, "committed")]["id"], -take),
                                                (acc[(f.allocation_id, "spent")]["id"], take)]))
        f.spent += take
        rest -= take
        if rest == 0:
            break
    session.add(ProjectPayment(project_id=p.id, amount=fen, payee=payment_in.payee, stage=payment_in.stage.value,
                               memo=payment_in.memo, entry_ids=entries, created_by=principal.sub))
    p.version += 1
    await session.flush()
    await audit.record(session, actor=principal.sub, action="project.pay", entity="project", entity_id=p.id,
                       diff={**payment_in.model_dump(mode="json"), "entry_ids": entries})
    return p
