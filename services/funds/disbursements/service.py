"""Household payments (到户补贴): a batch from one allocation, checked against the registry, publicized (公示),
approved by a second person (money committed), sent to one partner bank, and settled line by line by the bank's
results (paid lines spend, failed lines release; ``results.py``). Each paid line tells the household head by SMS
(``payment.paid`` to notifications). A batch holds up to 100,000 lines: every step is set-based (one COPY, one
``UPDATE … FROM unnest``, one aggregate), never a request or a query per line."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.allocations import service as allocations
from services.funds.clients import registry
from services.funds.disbursements import repository
from services.funds.disbursements.models import Disbursement
from services.funds.disbursements.schemas import (DisbursementCreate, DisbursementRead, LineCounts, LineRead,
                                                  WarningRead)
from services.funds.glossary import (DISBURSEMENT_STATUS_LABELS, LINE_STATUS_LABELS, NOT_FOR_HOUSEHOLDS,
                                     PURPOSE_LABELS, DisbursementStatus, EntryKind)
from services.funds.ledger import service as ledger
from services.funds.notices import service as notices
from services.funds.notices.content import publish_value, scrub
from services.funds.reconciliation.reference import end_to_end_id
from shared import audit
from shared.auth import Principal
from shared.http import ServiceClient
from shared.money import from_fen, to_fen
from shared.pagination import decode_cursor, encode_cursor, page
from shared.pii import PiiCipher
from shared.problems import Conflict, Forbidden, NotFound, Unprocessable

S = DisbursementStatus
WARNINGS_SHOWN = 100            # warnings carried by the batch read; all of them at …/warnings


def conflict_state(d: Disbursement, doing: str) -> Conflict:
    return Conflict(f"The batch is {d.status}; it cannot be {doing} now", slug="disbursement-state",
                    status_now=d.status)


def line_errors(errors: list[dict[str, Any]]) -> Unprocessable:
    return Unprocessable(f"{len(errors)} line(s) cannot be paid", errors=errors[:1000])


def line_counts(by_status: dict[str, tuple[int, int]]) -> LineCounts:
    return LineCounts(**{status: n for status, (n, _) in by_status.items()})


def fen_of(by_status: dict[str, tuple[int, int]], *statuses: str) -> int:
    return sum(by_status.get(s, (0, 0))[1] for s in statuses)


def warning_read(w: Any) -> WarningRead:
    how = "paid in batch" if w["earlier_status"] == "paid" else "committed in approved batch"
    return WarningRead(line_id=w["line_id"], household_id=w["household_id"],
                       earlier_disbursement_id=w["earlier_disbursement_id"], earlier_line_id=w["earlier_line_id"],
                       earlier_status=w["earlier_status"],
                       detail=f"household {w['household_id']} already {how} {w['earlier_disbursement_id']} "
                              f"(line {w['earlier_line_id']}) for the same purpose this year")


def line_read(line: Any) -> LineRead:
    return LineRead(id=line["id"], end_to_end_id=end_to_end_id(line["disbursement_id"], line["id"]),
                    household_id=line["household_id"], household_no=line["household_no"], head_name=line["head_name"],
                    head_id_number=line["head_id_masked"], village_code=line["village_code"],
                    amount=from_fen(line["amount"]), memo=line["memo"], account_no=line["account_masked"],
                    status=line["status"], status_label=LINE_STATUS_LABELS[line["status"]], bank_ref=line["bank_ref"],
                    reason=line["reason"], final_at=line["final_at"])


async def read_many(session: AsyncSession, batches: Sequence[Disbursement]) -> list[DisbursementRead]:
    """The batches with their totals, counts and first warnings (three queries for all of them)."""
    ids = [d.id for d in batches]
    counts = await repository.counts(session, ids)
    warned = await repository.warning_counts(session, ids)
    shown: dict[int, list[WarningRead]] = {i: [] for i in ids}
    for w in await repository.first_warnings(session, ids, each=WARNINGS_SHOWN):
        shown[w["disbursement_id"]].append(warning_read(w))
    return [DisbursementRead(
        id=d.id, allocation_id=d.allocation_id, title=d.title, region_code=d.region_code, purpose=d.purpose,
        purpose_label=PURPOSE_LABELS[d.purpose], status=d.status, status_label=DISBURSEMENT_STATUS_LABELS[d.status],
        total=from_fen(d.total), payable=from_fen(fen_of(c, "listed", "paid", "failed")),
        paid=from_fen(fen_of(c, "paid")), failed=from_fen(fen_of(c, "failed")),
        line_count=sum(n for n, _ in c.values()), line_counts=line_counts(c), warnings=shown[d.id],
        warning_count=warned.get(d.id, 0), notice_id=d.notice_id, bank_code=d.bank_code, created_by=d.created_by,
        approved_by=d.approved_by, created_at=d.created_at, version=d.version)
        for d in batches for c in [counts[d.id]]]


async def read(session: AsyncSession, d: Disbursement) -> DisbursementRead:
    return (await read_many(session, [d]))[0]


def _encrypt(cipher: PiiCipher, values: list[str | None], field: str) -> list[bytes | None]:
    present = [v for v in values if v is not None]
    sealed = iter(cipher.encrypt_many(present, field=field))
    return [None if v is None else next(sealed) for v in values]


def lines_digest(disbursement_in: DisbursementCreate) -> str:
    """SHA-256 of the lines as asked (household, amount, memo), for the audit chain and Idempotency-Key."""
    return hashlib.sha256(orjson.dumps([[x.household_id, f"{x.amount:f}", x.memo]
                                        for x in disbursement_in.lines])).hexdigest()


async def create(*, session: AsyncSession, principal: Principal, services: ServiceClient, cipher: PiiCipher,
                 disbursement_in: DisbursementCreate) -> Disbursement:
    allocation = await allocations.get(session=session, principal=principal,
                                       allocation_id=disbursement_in.allocation_id, to_change=True)
    if allocation.purpose in NOT_FOR_HOUSEHOLDS:
        raise ledger.EarmarkViolation(f"Money for {PURPOSE_LABELS[allocation.purpose]} is not paid to households by a batch")
    lines = disbursement_in.lines
    found = await registry.eligibility(services, [x.household_id for x in lines], allocation.region_code)
    outside = [hid for hid, i in found.items() if i["exists"] and not i["in_region"]]
    if outside:
        raise ledger.EarmarkViolation(f"{len(outside)} household(s) are outside the allocation's region "
                                      f"{allocation.region_code}: {outside[:20]}", households=outside[:1000])
    errors = [{"loc": ["body", "lines", n, "household_id"], "msg": ", ".join(found[x.household_id]["reasons"]),
               "type": "value_error"}
              for n, x in enumerate(lines) if not found[x.household_id]["eligible"]]
    if errors:
        raise line_errors(errors)
    fens = [to_fen(x.amount) for x in lines]
    total = sum(fens)
    available = (await ledger.accounts(session, [allocation.id]))[(allocation.id, "available")]["balance"]
    if total > available:
        raise ledger.InsufficientFunds(f"The batch needs {from_fen(total)}; the allocation has {from_fen(available)} "
                                       "available")
    d = Disbursement(allocation_id=allocation.id, title=disbursement_in.title, region_code=allocation.region_code,
                     purpose=allocation.purpose, total=total, created_by=principal.sub)
    session.add(d)
    await session.flush()
    heads = [found[x.household_id] for x in lines]
    accounts = [h.get("payout_account") or {} for h in heads]
    id_enc = _encrypt(cipher, [h.get("head_id_number") for h in heads], "id_number")
    phone_enc = _encrypt(cipher, [h.get("phone") for h in heads], "phone")
    account_enc = _encrypt(cipher, [a.get("account_no") for a in accounts], "payout_account")
    await repository.add_lines(session, [
        (d.id, x.household_id, fen, x.memo, h["village_code"], h["household_no"], h["head_name"] or "",
         h.get("head_id_number_masked"), id_e, phone_e, a.get("bank_code"), account_e, a.get("account_no_masked"))
        for x, fen, h, a, id_e, phone_e, account_e in zip(lines, fens, heads, accounts, id_enc, phone_enc,
                                                           account_enc, strict=True)])
    warned = await repository.add_warnings(session, disbursement_id=d.id, purpose=d.purpose, year=allocation.year)
    await audit.record(session, actor=principal.sub, action="disbursement.create", entity="disbursement",
                       entity_id=d.id, diff={"allocation_id": allocation.id, "title": d.title,
                                             "line_count": len(lines), "total": f"{from_fen(total):f}",
                                             "lines_sha256": lines_digest(disbursement_in), "warnings": warned})
    return d


async def get(*, session: AsyncSession, principal: Principal, disbursement_id: int, lock: bool = False,
              to_change: bool = False) -> Disbursement:
    """A batch the caller may read (``to_change``: may change); any other is not found."""
    scope = repository.writable(principal) if to_change else repository.readable(principal)
    d = await repository.one(session, scope, disbursement_id, lock=lock)
    if d is None:
        raise NotFound("No such disbursement")
    return d


async def list_(*, session: AsyncSession, principal: Principal, status: str | None, allocation_id: int | None,
                limit: int, cursor: str | None) -> tuple[list[Disbursement], str | None]:
    key = decode_cursor(cursor, id=int)
    rows = await repository.page_of(session, repository.readable(principal), status=status,
                                    allocation_id=allocation_id, after=key["id"] if key else None, limit=limit + 1)
    return page(rows, limit, lambda d: {"id": d.id})


async def lines(*, session: AsyncSession, d: Disbursement, status: str | None, limit: int, cursor: str | None,
                payable_only: bool = False) -> tuple[list[Any], str | None]:
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    rows = await repository.lines_page(session, d.id, after=after, limit=limit + 1, status=status,
                                       payable_only=payable_only)
    return page(rows, limit, lambda x: {"id": x["id"]})


async def warnings(*, session: AsyncSession, d: Disbursement, limit: int, cursor: str | None
                   ) -> tuple[list[WarningRead], str | None]:
    after = (decode_cursor(cursor, id=int) or {"id": 0})["id"]
    rows = await repository.warnings(session, d.id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [warning_read(w) for w in rows], encode_cursor({"id": rows[-1]["id"]}) if more else None


def notice_items(rows: Sequence[Any], purpose_label: str) -> list[dict[str, Any]]:
    """The 公示's items in their public form, as ``notices.publish_item`` makes them (name and memo scrubbed, the
    ID number masked, the amount a money string), from what the lines keep: no ID number is decrypted for it."""
    label = publish_value("purpose", purpose_label)
    return [{"ref": str(x["household_id"]), "name": scrub(x["head_name"]),
             **({"id_number": x["head_id_masked"]} if x["head_id_masked"] else {}),
             "amount": f"{from_fen(x['amount']):f}", "household_no": publish_value("household_no", x["household_no"]),
             "purpose": label, **({"memo": publish_value("memo", x["memo"])} if x["memo"] else {})} for x in rows]


def _bump(d: Disbursement, status: DisbursementStatus) -> None:
    d.status = status.value
    d.version += 1


async def publicize(*, session: AsyncSession, principal: Principal, services: ServiceClient, disbursement_id: int,
                    days: int | None, min_days: int) -> int:
    """Open the batch's 公示 (who gets how much); while it is open the batch cannot change or be approved."""
    d = await get(session=session, principal=principal, disbursement_id=disbursement_id, lock=True, to_change=True)
    if d.status == S.publicizing:
        return d.notice_id
    if d.status != S.draft:
        raise conflict_state(d, "publicized")
    rows = await repository.for_notice(session, d.id)
    region_name = await notices.lookup_region_name(services=services, region_code=d.region_code)
    notice, _ = await notices.open_published(
        session=session, kind="disbursement", region_code=d.region_code, title=d.title, requester="funds",
        requester_ref=f"disbursement:{d.id}", days=days, region_name=region_name,
        items=notice_items(rows, PURPOSE_LABELS[d.purpose]), amount_total=from_fen(sum(x["amount"] for x in rows)),
        actor=principal.sub, min_days=min_days)
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
    d = await repository.locked(session, disbursement_id)
    if d is None or d.notice_id != notice_id or d.status != S.publicizing:
        return
    struck = sorted({str(i.get("ref")) for i in items if i.get("struck")})
    if outcome == "withdrawn":
        d.notice_id = None
        _bump(d, S.draft)
    else:
        await repository.strike(session, d.id, [int(ref) for ref in struck if ref.isdigit() and len(ref) < 19])
        _bump(d, S.publicized)
    await audit.record(session, actor=actor, action="disbursement.notice_closed", entity="disbursement",
                       entity_id=d.id, diff={"notice_id": notice_id, "outcome": outcome,
                                             "struck": struck if outcome != "withdrawn" else []})


async def approve(*, session: AsyncSession, principal: Principal, disbursement_id: int) -> Disbursement:
    """Four eyes: not by the batch's creator. Commits the payable lines' money (available → committed)."""
    d = await get(session=session, principal=principal, disbursement_id=disbursement_id, lock=True, to_change=True)
    if d.created_by == principal.sub:
        raise Forbidden("The creator of a batch cannot approve it (four eyes)")
    if d.status != S.publicized:
        raise conflict_state(d, "approved (its 公示 must have closed)")
    payable = await repository.payable(session, d.id)
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
    d = await get(session=session, principal=principal, disbursement_id=disbursement_id, lock=True, to_change=True)
    if d.status == S.sent and d.bank_code == bank_code:
        return d
    if d.status != S.approved:
        raise conflict_state(d, "sent")
    d.bank_code = bank_code
    _bump(d, S.sent)
    await audit.record(session, actor=principal.sub, action="disbursement.send", entity="disbursement",
                       entity_id=d.id, diff={"bank_code": bank_code})
    return d

