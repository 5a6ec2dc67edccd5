"""Household payments (到户补贴): a batch from one allocation, checked against the registry, publicized (公示),
approved by a second person (money committed), sent to one partner bank, and settled line by line by the bank's
results (paid lines spend, failed lines release). Each paid line tells the household head by SMS
(``payment.paid`` to notifications)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.disbursements.models import Disbursement, DisbursementLine
from services.funds.disbursements.schemas import (BankDisbursementRead, BankLineRead, DisbursementCreate,
                                                  DisbursementRead, LineRead, ResultOutcome, ResultsIn,
                                                  ResultsRead)
from services.funds.glossary import (DISBURSEMENT_STATUS_LABELS, LINE_STATUS_LABELS, NOT_FOR_HOUSEHOLDS,
                                     PURPOSE_LABELS, DisbursementStatus, EntryKind, LineStatus)
from services.funds.ledger import service as ledger
from services.funds.notices import service as notices
from services.funds.notices.schemas import NoticeOpen
from shared import audit, outbox, regions
from shared.auth import Principal
from shared.http import ServiceClient
from shared.money import from_fen, to_fen
from shared.pagination import decode_cursor, page
from shared.pii import PiiCipher
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable

S = DisbursementStatus


def _conflict_state(d: Disbursement, doing: str) -> Conflict:
    return Conflict(f"The batch is {d.status}; it cannot be {doing} now", slug="disbursement-state",
                    status_now=d.status)


def _line_errors(errors: list[dict[str, Any]]) -> Unprocessable:
    return Unprocessable(f"{len(errors)} line(s) cannot be paid", errors=errors)


async def _lines(session: AsyncSession, disbursement_ids: Sequence[int], *, lock: bool = False
                 ) -> list[DisbursementLine]:
    q = select(DisbursementLine).where(DisbursementLine.disbursement_id.in_(list(disbursement_ids))).order_by(
        DisbursementLine.id)
    if lock:
        q = q.with_for_update()
    return list((await session.execute(q)).scalars().all())


def _line_read(line: DisbursementLine) -> LineRead:
    return LineRead(household_id=line.household_id, household_no=line.household_no, head_name=line.head_name,
                    head_id_number=line.head_id_masked, village_code=line.village_code,
                    amount=from_fen(line.amount), memo=line.memo, account_no=line.account_masked, status=line.status,
                    status_label=LINE_STATUS_LABELS[line.status], bank_ref=line.bank_ref, reason=line.reason,
                    final_at=line.final_at)


def _payable(lines: Sequence[DisbursementLine]) -> int:
    return sum(x.amount for x in lines if x.status != LineStatus.struck)


async def read_many(session: AsyncSession, batches: Sequence[Disbursement]) -> list[DisbursementRead]:
    """The batches with their lines (one query for all lines)."""
    by_batch: dict[int, list[DisbursementLine]] = {d.id: [] for d in batches}
    for line in await _lines(session, list(by_batch)):
        by_batch[line.disbursement_id].append(line)
    return [DisbursementRead(
        id=d.id, allocation_id=d.allocation_id, title=d.title, region_code=d.region_code, purpose=d.purpose,
        purpose_label=PURPOSE_LABELS[d.purpose], status=d.status, status_label=DISBURSEMENT_STATUS_LABELS[d.status],
        total=from_fen(d.total), payable=from_fen(_payable(lines)),
        paid=from_fen(sum(x.amount for x in lines if x.status == LineStatus.paid)), notice_id=d.notice_id,
        bank_code=d.bank_code, created_by=d.created_by, approved_by=d.approved_by, created_at=d.created_at,
        version=d.version, lines=[_line_read(x) for x in lines]) for d in batches for lines in [by_batch[d.id]]]


async def read(session: AsyncSession, d: Disbursement) -> DisbursementRead:
    return (await read_many(session, [d]))[0]


async def create(*, session: AsyncSession, principal: Principal, services: ServiceClient, cipher: PiiCipher,
                 disbursement_in: DisbursementCreate) -> Disbursement:
    allocation = await allocations.get(session=session, principal=principal,
                                       allocation_id=disbursement_in.allocation_id)
    if not principal.covers(allocation.region_code):
        raise NotFound("No such allocation")
    if allocation.purpose in NOT_FOR_HOUSEHOLDS:
        raise ledger.EarmarkViolation(f"Money for {PURPOSE_LABELS[allocation.purpose]} is not paid to households by a batch")
    answer = await services.request("POST", "registry", "/internal/households/eligibility", json={
        "household_ids": [x.household_id for x in disbursement_in.lines], "region_code": allocation.region_code})
    found = {i["household_id"]: i for i in answer["items"]}
    outside = [hid for hid, i in found.items() if i["exists"] and not i["in_region"]]
    if outside:
        raise ledger.EarmarkViolation(f"Households {outside} are outside the allocation's region "
                               f"{allocation.region_code}", households=outside)
    errors = [{"loc": ["body", "lines", n, "household_id"], "msg": ", ".join(found[x.household_id]["reasons"]),
               "type": "value_error"}
              for n, x in enumerate(disbursement_in.lines) if not found[x.household_id]["eligible"]]
    if errors:
        raise _line_errors(errors)
    total = sum(to_fen(x.amount) for x in disbursement_in.lines)
    available = (await ledger.accounts(session, [allocation.id]))[(allocation.id, "available")]["balance"]
    if total > available:
        raise ledger.InsufficientFunds(f"The batch needs {from_fen(total)}; the allocation has {from_fen(available)} "
                                       "available")
    d = Disbursement(allocation_id=allocation.id, title=disbursement_in.title, region_code=allocation.region_code,
                     purpose=allocation.purpose, total=total, created_by=principal.sub)
    session.add(d)
    await session.flush()
    for x in disbursement_in.lines:
        h = found[x.household_id]
        account = h.get("payout_account") or {}
        session.add(DisbursementLine(
            disbursement_id=d.id, household_id=x.household_id, amount=to_fen(x.amount), memo=x.memo,
            village_code=h["village_code"], household_no=h["household_no"], head_name=h["head_name"] or "",
            head_id_masked=h.get("head_id_number_masked"),
            head_id_enc=cipher.encrypt_opt(h.get("head_id_number"), field="id_number"),
            phone_enc=cipher.encrypt_opt(h.get("phone"), field="phone"),
            account_bank_code=account.get("bank_code"),
            account_enc=cipher.encrypt_opt(account.get("account_no"), field="payout_account"),
            account_masked=account.get("account_no_masked")))
    await session.flush()
    await audit.record(session, actor=principal.sub, action="disbursement.create", entity="disbursement",
                       entity_id=d.id, diff=disbursement_in.model_dump(mode="json"))
    return d


async def get(*, session: AsyncSession, principal: Principal, disbursement_id: int, lock: bool = False
              ) -> Disbursement:
    q = select(Disbursement).where(Disbursement.id == disbursement_id)
    if lock:
        q = q.with_for_update()
    d = (await session.execute(q)).scalars().first()
    if d is None or not (principal.covers(d.region_code) or regions.covers(d.region_code, principal.region)):
        raise NotFound("No such disbursement")
    return d


async def list_(*, session: AsyncSession, principal: Principal, status: str | None, allocation_id: int | None,
                limit: int, cursor: str | None) -> tuple[list[Disbursement], str | None]:
    q = select(Disbursement)
    if not principal.is_service:
        q = q.where(Disbursement.region_code.startswith(regions.prefix(principal.region)[:6]))
    if status is not None:
        q = q.where(Disbursement.status == status)
    if allocation_id is not None:
        q = q.where(Disbursement.allocation_id == allocation_id)
    if (key := decode_cursor(cursor, id=int)) is not None:
        q = q.where(Disbursement.id > key["id"])
    rows = [d for d in (await session.execute(q.order_by(Disbursement.id).limit(limit + 1))).scalars().all()
            if principal.covers(d.region_code) or regions.covers(d.region_code, principal.region)]
    return page(rows, limit, lambda d: {"id": d.id})


def _bump(d: Disbursement, status: DisbursementStatus) -> None:
    d.status = status.value
    d.version += 1


async def publicize(*, session: AsyncSession, principal: Principal, cipher: PiiCipher, disbursement_id: int,
                    days: int | None, min_days: int) -> int:
    """Open the batch's 公示 (who gets how much); while it is open the batch cannot change or be approved."""
    d = await get(session=session, principal=principal, disbursement_id=disbursement_id, lock=True)
    if not principal.covers(d.region_code):
        raise NotFound("No such disbursement")
    if d.status == S.publicizing:
        return d.notice_id
    if d.status != S.draft:
        raise _conflict_state(d, "publicized")
    lines = [x for x in await _lines(session, [d.id]) if x.status == LineStatus.listed]
    notice_in = NoticeOpen(kind="disbursement", region_code=d.region_code, title=d.title, requester="funds", days=days,
                           requester_ref=f"disbursement:{d.id}", items=[
                               {"ref": str(x.household_id), "name": x.head_name,
                                "id_number": cipher.decrypt_opt(x.head_id_enc, field="id_number"),
                                "amount": f"{from_fen(x.amount):f}", "household_no": x.household_no,
                                "purpose": PURPOSE_LABELS[d.purpose], **({"memo": x.memo} if x.memo else {})}
                               for x in lines])
    notice, _ = await notices.open_notice(session=session, notice_in=notice_in, actor=principal.sub,
                                          min_days=min_days)
    d.notice_id = notice.id
    _bump(d, S.publicizing)
    await audit.record(session, actor=principal.sub, action="disbursement.publicize", entity="disbursement",
                       entity_id=d.id, diff={"notice_id": notice.id, "content_hash": notice.content_hash})
    return notice.id


async def apply_notice(session: AsyncSession, *, notice_id: int, requester_ref: str, outcome: str,
                       items: list[dict[str, Any]], actor: str) -> None:
    """``notice.closed`` for a batch's 公示: struck lines are cancelled and the batch may be approved; a
    withdrawn notice puts the batch back to draft (to be corrected and publicized again)."""
    kind, _, batch = requester_ref.partition(":")
    if kind != "disbursement" or not batch.isdigit():
        return
    disbursement_id = int(batch)
    d = (await session.execute(select(Disbursement).where(Disbursement.id == disbursement_id).with_for_update()
                               )).scalars().first()
    if d is None or d.notice_id != notice_id or d.status != S.publicizing:
        return
    if outcome == "withdrawn":
        d.notice_id = None
        _bump(d, S.draft)
    else:
        struck = {str(i.get("ref")) for i in items if i.get("struck")}
        for line in await _lines(session, [d.id], lock=True):
            if str(line.household_id) in struck:
                line.status = LineStatus.struck.value
        _bump(d, S.publicized)
    await audit.record(session, actor=actor, action="disbursement.notice_closed", entity="disbursement",
                       entity_id=d.id, diff={"notice_id": notice_id, "outcome": outcome,
                                             "struck": sorted(str(i.get("ref")) for i in items if i.get("struck"))})


async def approve(*, session: AsyncSession, principal: Principal, disbursement_id: int) -> Disbursement:
    """Four eyes: not by the batch's creator. Commits the payable lines' money (available → committed)."""
    d = await get(session=session, principal=principal, disbursement_id=disbursement_id, lock=True)
    if not principal.covers(d.region_code):
        raise NotFound("No such disbursement")
    if d.created_by == principal.sub:
        raise Forbidden("The creator of a batch cannot approve it (four eyes)")
    if d.status != S.publicized:
        raise _conflict_state(d, "approved (its 公示 must have closed)")
    payable = _payable(await _lines(session, [d.id]))
    if payable > 0:
        acc = await ledger.accounts(session, [d.allocation_id])
        d.entry_id = await ledger.post(session, kind=EntryKind.commit, ref=f"disbursement:{d.id}",
                                       actor=principal.sub, memo=d.title,
                                       lines=[(acc[(d.allocation_id, "available")]["id"], -payable),
                                              (acc[(d.allocation_id, "committed")]["id"], payable)])
    d.approved_by = principal.sub
    _bump(d, S.approved if payable > 0 else S.done)
    await audit.record(session, actor=principal.sub, action="disbursement.approve", entity="disbursement",
                       entity_id=d.id, diff={"committed": f"{from_fen(payable):f}", "entry_id": d.entry_id})
    return d


async def send(*, session: AsyncSession, principal: Principal, disbursement_id: int, bank_code: str) -> Disbursement:
    d = await get(session=session, principal=principal, disbursement_id=disbursement_id, lock=True)
    if not principal.covers(d.region_code):
        raise NotFound("No such disbursement")
    if d.status == S.sent and d.bank_code == bank_code:
        return d
    if d.status != S.approved:
        raise _conflict_state(d, "sent")
    d.bank_code = bank_code
    _bump(d, S.sent)
    await audit.record(session, actor=principal.sub, action="disbursement.send", entity="disbursement",
                       entity_id=d.id, diff={"bank_code": bank_code})
    return d


# --- the partner bank's side ------------------------------------------------------------------------------

async def for_bank(*, session: AsyncSession, principal: Principal, disbursement_id: int, lock: bool = False
                   ) -> Disbursement:
    """Only the bank the batch was sent to sees it; for any other caller it does not exist."""
    q = select(Disbursement).where(Disbursement.id == disbursement_id, Disbursement.bank_code.is_not(None))
    if lock:
        q = q.with_for_update()
    d = (await session.execute(q)).scalars().first()
    if d is None or principal.bank is None or d.bank_code != principal.bank:
        raise NotFound("No such disbursement")
    return d


async def bank_read(session: AsyncSession, d: Disbursement, cipher: PiiCipher) -> BankDisbursementRead:
    lines = [x for x in await _lines(session, [d.id]) if x.status != LineStatus.struck]
    return BankDisbursementRead(
        id=d.id, title=d.title, purpose=d.purpose, purpose_label=PURPOSE_LABELS[d.purpose], region_code=d.region_code,
        status=d.status, lines=[BankLineRead(
            household_id=x.household_id, household_no=x.household_no, head_name=x.head_name,
            amount=from_fen(x.amount), account_bank_code=x.account_bank_code,
            account_no=cipher.decrypt_opt(x.account_enc, field="payout_account"), status=x.status) for x in lines])


async def bank_list(*, session: AsyncSession, principal: Principal, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[Disbursement], str | None]:
    q = select(Disbursement).where(Disbursement.bank_code == (principal.bank or ""))
    if status is not None:
        q = q.where(Disbursement.status == status)
    if (key := decode_cursor(cursor, id=int)) is not None:
        q = q.where(Disbursement.id > key["id"])
    rows = list((await session.execute(q.order_by(Disbursement.id).limit(limit + 1))).scalars().all())
    return page(rows, limit, lambda d: {"id": d.id})


async def post_results(*, session: AsyncSession, principal: Principal, cipher: PiiCipher, disbursement_id: int,
                       results: ResultsIn) -> ResultsRead:
    """Paid lines spend their commitment, failed lines release it; a line's final status never changes (the same
    result again is ``unchanged``, a contradicting one is 409 and changes nothing)."""
    d = await for_bank(session=session, principal=principal, disbursement_id=disbursement_id, lock=True)
    if d.status not in (S.sent, S.done):
        raise _conflict_state(d, "settled")
    lines = {x.household_id: x for x in await _lines(session, [d.id], lock=True)}
    errors, contradictions = [], []
    for n, r in enumerate(results.lines):
        line = lines.get(r.household_id)
        if line is None or line.status == LineStatus.struck:
            errors.append({"loc": ["body", "lines", n, "household_id"], "type": "value_error",
                           "msg": "not a payable line of this batch"})
        elif line.status in (LineStatus.paid, LineStatus.failed) and line.status != r.status:
            contradictions.append(r.household_id)
    if errors:
        raise _line_errors(errors)
    if contradictions:
        raise Conflict(f"Lines for households {contradictions} were already settled otherwise; a final status never "
                       "changes", slug="line-final", households=contradictions)
    now = datetime.now(UTC)
    outcomes, paid, failed = [], [], []
    for r in results.lines:
        line = lines[r.household_id]
        if line.status == r.status:
            outcomes.append(ResultOutcome(household_id=line.household_id, status=line.status, outcome="unchanged"))
            continue
        line.status, line.bank_ref, line.reason, line.final_at = r.status, r.bank_ref, r.reason, now
        (paid if r.status == "paid" else failed).append(line)
        outcomes.append(ResultOutcome(household_id=line.household_id, status=line.status, outcome="applied"))
    acc = await ledger.accounts(session, [d.allocation_id])
    ref = f"disbursement:{d.id}"
    await ledger.post_entries(session, [      # one posting: its accounts locked in one order
        ledger.Entry(kind=kind, ref=ref, actor=principal.sub, memo=d.title,
                     lines=[(acc[(d.allocation_id, "committed")]["id"], -fen), (acc[(d.allocation_id, to)]["id"], fen)])
        for kind, chosen, to in ((EntryKind.spend, paid, "spent"), (EntryKind.release, failed, "available"))
        if (fen := sum(x.amount for x in chosen))])
    for line in paid:
        await outbox.emit(session, topic="payment.paid", to=["notifications"], payload={
            "disbursement_id": d.id, "household_id": line.household_id, "household_no": line.household_no,
            "head_name": line.head_name, "head_phone": cipher.decrypt_opt(line.phone_enc, field="phone"),
            "amount": f"{from_fen(line.amount):f}", "purpose": d.purpose, "purpose_label": PURPOSE_LABELS[d.purpose],
            "account_tail": line.account_masked, "bank_ref": line.bank_ref, "paid_at": now.isoformat(),
            "region_code": line.village_code})
    if all(x.status != LineStatus.listed for x in lines.values()) and d.status != S.done:
        _bump(d, S.done)
    if paid or failed:
        await audit.record(session, actor=principal.sub, action="disbursement.results", entity="disbursement",
                           entity_id=d.id, diff={"paid": [x.household_id for x in paid],
                                                 "failed": [x.household_id for x in failed]})
    return ResultsRead(disbursement_id=d.id, status=d.status, lines=outcomes)

