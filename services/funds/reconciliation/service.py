"""对账: a partner bank's statements compared with the batches sent to it.

A statement is stored once per bank and statement id (the same one again changes nothing; the same id with other
entries is 409). Its entries are matched by line reference to that bank's batches only. A reversal of a paid line
re-opens the line's money once (``refund``: spent → available), with an audit row and a ``payment.reversed``
event; the line stays ``paid`` and shows a ``reversed`` break."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.glossary import (BREAK_KIND_LABELS, PURPOSE_LABELS, RECONCILIATION_STATUS_LABELS, BreakKind,
                                     EntryKind, ReconciliationStatus)
from services.funds.ledger import service as ledger
from services.funds.reconciliation import repository
from services.funds.reconciliation.reference import end_to_end_id, parse_end_to_end_id
from services.funds.reconciliation.schemas import BreakRead, ReconciliationRead, StatementIn, StatementRead
from shared import audit, outbox
from shared.auth import Principal
from shared.money import from_fen
from shared.pagination import decode_cursor, page
from shared.problems import BadRequest, Conflict, Forbidden, NotFound


@dataclass(frozen=True)
class Prepared:
    """A statement as table rows (without the statement's id), the bookings' and the reversals' totals in fen, and
    a digest of its whole content (what an Idempotency-Key and a resent statement id are compared by)."""

    statement: StatementIn
    rows: list[tuple]
    total: int
    reversed_total: int
    digest: str


def prepare(statement_in: StatementIn) -> Prepared:
    rows, totals = [], [0, 0]
    for seq, e in enumerate(statement_in.entries):
        disbursement_id, line_id = parse_end_to_end_id(e.end_to_end_id)
        fen = int(e.amount.replace(".", ""))        # "1500.00" (schemas.EntryAmount)
        totals[e.reversal] += fen
        rows.append((seq, disbursement_id, line_id, fen, e.booked_on, e.bank_ref, e.reversal))
    digest = hashlib.sha256(statement_in.model_dump_json().encode()).hexdigest()
    return Prepared(statement_in, rows, totals[0], totals[1], digest)


async def post_refunds(session: AsyncSession, *, statement_pk: int, bank_code: str, actor: str, memo: str) -> int:
    """Re-open the money of the lines this statement reversed (``refund``: spent → available), each one entry
    posted through the ledger in one call; returns how many."""
    refunds = await repository.refundable(session, statement_pk=statement_pk, bank_code=bank_code)
    entry_ids = await ledger.post_entries(session, [
        ledger.Entry(kind=EntryKind.refund, ref=r["ref"], actor=actor, memo=memo,
                     lines=[(r["spent"], -r["amount"]), (r["available"], r["amount"])]) for r in refunds])
    if refunds:
        await repository.add_reversals(session, statement_pk=statement_pk, refunds=refunds, entry_ids=entry_ids)
    return len(refunds)


async def receive(*, session: AsyncSession, principal: Principal, prepared: Prepared) -> tuple[StatementRead, bool]:
    """Store a statement and apply its reversals; returns the answer and whether it was new."""
    bank = principal.bank
    if not bank:
        raise Forbidden("This token names no bank")
    statement_in, records, digest = prepared.statement, prepared.rows, prepared.digest
    total, reversed_total = prepared.total, prepared.reversed_total
    claimed = await repository.claim_statement(
        session, bank_code=bank, statement_id=statement_in.statement_id, booked_on=statement_in.booked_on,
        entry_count=len(records), total=total, reversed_total=reversed_total, content_hash=digest, actor=principal.sub)
    if claimed is None:
        prior = await repository.stored_statement(session, bank_code=bank, statement_id=statement_in.statement_id)
        if prior["content_hash"] != digest:
            raise Conflict(f"Statement {statement_in.statement_id!r} was received before with other content; a "
                           "statement never changes: send corrections under a new statement_id",
                           slug="statement-id-reused")
        return StatementRead.model_validate(prior["answer"] | {"duplicate": True}), False
    pk, received_at = claimed
    await repository.copy_entries(session, [(pk, *r) for r in records])
    matched = await repository.matching(session, statement_pk=pk, bank_code=bank)
    reversed_n = await post_refunds(session, statement_pk=pk, bank_code=bank, actor=principal.sub,
                                    memo=f"银行退回 {bank} {statement_in.statement_id}")
    refunds = await repository.refunds_of(session, statement_pk=pk) if reversed_n else []
    for r in refunds:
        await outbox.emit(session, topic="payment.reversed", to=["notifications"], payload={
            "disbursement_id": r["disbursement_id"], "line_id": r["line_id"],
            "end_to_end_id": end_to_end_id(r["disbursement_id"], r["line_id"]), "household_id": r["household_id"],
            "household_no": r["household_no"], "amount": f"{from_fen(r['amount']):f}", "purpose": r["purpose"],
            "purpose_label": PURPOSE_LABELS[r["purpose"]], "allocation_id": r["allocation_id"],
            "entry_id": r["entry_id"], "bank_code": bank, "statement_id": statement_in.statement_id,
            "bank_ref": r["bank_ref"], "booked_on": r["booked_on"].isoformat(), "region_code": r["village_code"]})
    for disbursement_id, rows in groupby(sorted(refunds, key=lambda r: r["disbursement_id"]),
                                         key=lambda r: r["disbursement_id"]):
        await audit.record(session, actor=principal.sub, action="disbursement.reversed", entity="disbursement",
                           entity_id=disbursement_id, diff={"statement_id": statement_in.statement_id, "lines": [
                               {"line_id": r["line_id"], "amount": f"{from_fen(r['amount']):f}",
                                "entry_id": r["entry_id"]} for r in rows]})
    answer = StatementRead(
        statement_id=statement_in.statement_id, bank_code=bank, booked_on=statement_in.booked_on,
        received_at=received_at, duplicate=False, entries=len(records), total=from_fen(total),
        reversed_total=from_fen(reversed_total),
        matched=matched["matched"], unmatched=matched["unmatched"],
        unmatched_end_to_end_ids=[end_to_end_id(*pair) for pair in matched["sample"]],
        disbursement_ids=list(matched["disbursement_ids"]), reversed=reversed_n)
    await repository.save_answer(session, statement_pk=pk, answer=answer.model_dump(mode="json"))
    await audit.record(session, actor=principal.sub, action="bank_statement.receive", entity="bank_statement",
                       entity_id=pk, diff={"statement_id": statement_in.statement_id, "bank_code": bank,
                                           "booked_on": statement_in.booked_on.isoformat(), "entries": len(records),
                                           "total": f"{from_fen(total):f}",
                                           "reversed_total": f"{from_fen(reversed_total):f}", "content_hash": digest,
                                           "matched": answer.matched, "unmatched": answer.unmatched,
                                           "reversed_lines": [r["line_id"] for r in refunds]})
    return answer, True


_KINDS = frozenset(BreakKind)


def _detail(r) -> str:
    kind, amount, booked = r["kind"], r["amount"], r["booked"]
    if kind == BreakKind.paid_not_booked:
        return f"paid {from_fen(amount)} by the bank's results, on no statement"
    if kind == BreakKind.booked_not_paid:
        what = f"booked {from_fen(booked)}" if r["n_booked"] else "a reversal booked"
        if r["status"] is None:
            return f"{what} for a line this batch does not have"
        return f"{what}, but the line is {r['status']}"
    if kind == BreakKind.amount_mismatch:
        if r["n_booked"] and booked != amount:
            return f"booked {from_fen(booked)} in {r['n_booked']} entr{'y' if r['n_booked'] == 1 else 'ies'}; " \
                   f"the line is {from_fen(amount)}"
        return f"a reversal of {from_fen(r['reversal_max'])} for a line of {from_fen(amount)}: nothing re-opened"
    if r["refund_entry_id"] is not None:
        return f"reversed by the bank: {from_fen(amount)} back to the allocation's available (ledger entry " \
               f"{r['refund_entry_id']})"
    if r["reversal_min"] == amount == r["reversal_max"]:
        return "a reversal booked before the line was paid: nothing re-opened"
    return "a reversal for another amount: nothing re-opened (see amount_mismatch)"


def _break(r) -> BreakRead:
    return BreakRead(line_id=r["line_id"], kind=r["kind"], kind_label=BREAK_KIND_LABELS[r["kind"]], detail=_detail(r),
                     household_id=r["household_id"], line_status=r["status"],
                     amount=None if r["amount"] is None else from_fen(r["amount"]),
                     booked=from_fen(r["booked"]) if r["n_booked"] else None,
                     bank_ref=r["result_ref"] or r["booking_ref"])


async def reconciliation(*, session: AsyncSession, principal: Principal, disbursement_id: int, limit: int,
                         cursor: str | None) -> ReconciliationRead:
    key = decode_cursor(cursor, line_id=int, kind=str)
    if key is not None and key["kind"] not in _KINDS:
        raise BadRequest("cursor is not one this API issued")
    d = await repository.batch(session, disbursement_id, principal=principal)
    if d is None:
        raise NotFound("No such disbursement")
    found = await repository.reconciliation(session, disbursement_id=d["id"], bank_code=d["bank_code"],
                                            after=(key["line_id"], key["kind"]) if key else (0, ""), limit=limit + 1)
    counts, named = found["counts"], found["named"]
    rows, next_cursor = page(found["page"], limit, lambda r: {"line_id": r["line_id"], "kind": r["kind"]})
    status = (ReconciliationStatus.unreconciled if not named
              else ReconciliationStatus.breaks if counts else ReconciliationStatus.balanced)
    return ReconciliationRead(disbursement_id=d["id"], bank_code=d["bank_code"], status=status,
                              status_label=RECONCILIATION_STATUS_LABELS[status],
                              counts={k: counts.get(k.value, 0) for k in BreakKind},
                              breaks=[_break(r) for r in rows], next_cursor=next_cursor)
