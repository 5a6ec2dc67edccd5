"""The partner bank's side of a batch: what to pay (control totals, lines page by page, each with its
``end_to_end_id``) and its results, settled set-based: paid lines spend their commitment, failed lines release it,
each paid line one ``payment.paid`` event. A line's final status never changes (the same result again is
``unchanged``, a contradicting one is 409 and changes nothing)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.funds.disbursements import repository
from services.funds.disbursements.models import Disbursement
from services.funds.disbursements.schemas import BankBatchSummary, BankDisbursementRead, BankLineRead, ResultsIn
from services.funds.disbursements.service import conflict_state, fen_of, line_counts, line_errors, lines
from services.funds.glossary import PURPOSE_LABELS, DisbursementStatus, EntryKind
from services.funds.ledger import service as ledger
from services.funds.reconciliation.reference import end_to_end_id
from shared import audit
from shared.auth import Principal
from shared.money import from_fen
from shared.pagination import decode_cursor, page
from shared.pii import PiiCipher
from shared.problems import Conflict, NotFound

S = DisbursementStatus
FIRST_PAGE = 500        # lines carried by the batch read itself


async def for_bank(*, session: AsyncSession, principal: Principal, disbursement_id: int, lock: bool = False
                   ) -> Disbursement:
    """Only the bank the batch was sent to sees it; for any other caller it does not exist."""
    d = await repository.one(session, repository.sent_to(principal), disbursement_id, lock=lock)
    if d is None:
        raise NotFound("No such disbursement")
    return d


def bank_line(line: Any, cipher: PiiCipher) -> dict[str, Any]:
    """A ``BankLineRead`` as JSON values (a batch is read 5,000 lines a page)."""
    return {"line_id": line["id"], "end_to_end_id": end_to_end_id(line["disbursement_id"], line["id"]),
            "household_id": line["household_id"], "household_no": line["household_no"],
            "head_name": line["head_name"], "amount": f"{from_fen(line['amount']):f}",
            "account_bank_code": line["account_bank_code"],
            "account_no": cipher.decrypt_opt(line["account_enc"], field="payout_account"),
            "status": line["status"], "bank_ref": line["bank_ref"], "reason": line["reason"],
            "final_at": line["final_at"].isoformat() if line["final_at"] else None}


async def summaries(session: AsyncSession, batches: list[Disbursement]) -> list[BankBatchSummary]:
    counts = await repository.counts(session, [d.id for d in batches])
    out = []
    for d in batches:
        c = {k: v for k, v in counts[d.id].items() if k != "struck"}
        out.append(BankBatchSummary(
            id=d.id, title=d.title, purpose=d.purpose, purpose_label=PURPOSE_LABELS[d.purpose],
            region_code=d.region_code, status=d.status, line_count=sum(n for n, _ in c.values()),
            control_sum=from_fen(fen_of(c, "listed", "paid", "failed")), line_counts=line_counts(c),
            paid=from_fen(fen_of(c, "paid")), failed=from_fen(fen_of(c, "failed"))))
    return out


async def bank_read(session: AsyncSession, d: Disbursement, cipher: PiiCipher, *, limit: int = FIRST_PAGE
                    ) -> BankDisbursementRead:
    [summary] = await summaries(session, [d])
    rows, next_cursor = await lines(session=session, d=d, status=None, limit=limit, cursor=None, payable_only=True)
    return BankDisbursementRead(**summary.model_dump(), lines=[BankLineRead(**bank_line(x, cipher)) for x in rows],
                                lines_next_cursor=next_cursor)


async def bank_lines(*, session: AsyncSession, d: Disbursement, cipher: PiiCipher, status: str | None, limit: int,
                     cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    rows, next_cursor = await lines(session=session, d=d, status=status, limit=limit, cursor=cursor,
                                    payable_only=True)
    return [bank_line(x, cipher) for x in rows], next_cursor


async def bank_list(*, session: AsyncSession, principal: Principal, status: str | None, limit: int,
                    cursor: str | None) -> tuple[list[Disbursement], str | None]:
    key = decode_cursor(cursor, id=int)
    rows = await repository.page_of(session, repository.sent_to(principal), status=status,
                                    after=key["id"] if key else None, limit=limit + 1)
    return page(rows, limit, lambda d: {"id": d.id})


def results_digest(results: ResultsIn) -> str:
    """SHA-256 of a results post as sent (for its Idempotency-Key)."""
    return hashlib.sha256(orjson.dumps(results.model_dump(mode="json"))).hexdigest()


def _paid_event(d: Disbursement, line: Any, cipher: PiiCipher) -> str:
    return orjson.dumps({
        "disbursement_id": d.id, "line_id": line["id"], "end_to_end_id": end_to_end_id(d.id, line["id"]),
        "household_id": line["household_id"], "household_no": line["household_no"], "head_name": line["head_name"],
        "head_phone": cipher.decrypt_opt(line["phone_enc"], field="phone"),
        "amount": f"{from_fen(line['amount']):f}", "purpose": d.purpose, "purpose_label": PURPOSE_LABELS[d.purpose],
        "account_tail": line["account_masked"], "bank_ref": line["bank_ref"],
        "paid_at": line["final_at"].isoformat(), "region_code": line["village_code"]}).decode()


async def post_results(*, session: AsyncSession, principal: Principal, cipher: PiiCipher, disbursement_id: int,
                       results: ResultsIn) -> dict[str, Any]:
    """The answer (a ``ResultsRead``) as plain JSON: it lists every posted line, up to 100,000."""
    d = await for_bank(session=session, principal=principal, disbursement_id=disbursement_id, lock=True)
    if d.status not in (S.sent, S.done):
        raise conflict_state(d, "settled")
    posted = results.lines
    ids, statuses = [r.household_id for r in posted], [r.status for r in posted]
    problems = await repository.result_problems(session, d.id, household_ids=ids, statuses=statuses)
    errors = [{"loc": ["body", "lines", p["n"] - 1, "household_id"], "type": "value_error",
               "msg": "not a payable line of this batch"} for p in problems if p["status"] in (None, "struck")]
    if errors:
        raise line_errors(errors)
    if problems:
        households = [p["household_id"] for p in problems]
        raise Conflict(f"Lines for {len(households)} household(s) were already settled otherwise; a final status "
                       f"never changes: {households[:20]}", slug="line-final", households=households[:1000])
    changed = await repository.settle(session, d.id, household_ids=ids, statuses=statuses,
                                      bank_refs=[r.bank_ref for r in posted], reasons=[r.reason for r in posted])
    paid = [x for x in changed if x["status"] == "paid"]
    fen = {"paid": sum(x["amount"] for x in paid), "failed": sum(x["amount"] for x in changed) - sum(
        x["amount"] for x in paid)}
    acc = await ledger.accounts(session, [d.allocation_id])
    await ledger.post_entries(session, [      # one posting: its accounts locked in one order
        ledger.Entry(kind=kind, ref=f"disbursement:{d.id}", actor=principal.sub, memo=d.title,
                     lines=[(acc[(d.allocation_id, "committed")]["id"], -fen[status]),
                            (acc[(d.allocation_id, to)]["id"], fen[status])])
        for kind, status, to in ((EntryKind.spend, "paid", "spent"), (EntryKind.release, "failed", "available"))
        if fen[status]])
    await repository.add_events(session, topic="payment.paid", to=["notifications"],
                                payloads=[_paid_event(d, x, cipher) for x in paid])
    if d.status != S.done and not await repository.any_listed(session, d.id):
        d.status, d.version = S.done.value, d.version + 1
    applied = {x["household_id"] for x in changed}
    if changed:
        await audit.record(session, actor=principal.sub, action="disbursement.results", entity="disbursement",
                           entity_id=d.id, diff={
                               "paid": len(paid), "failed": len(changed) - len(paid),
                               "paid_amount": f"{from_fen(fen['paid']):f}",
                               "failed_amount": f"{from_fen(fen['failed']):f}",
                               "lines_sha256": hashlib.sha256(orjson.dumps(sorted(
                                   [x["household_id"], x["status"]] for x in changed))).hexdigest()})
    return {"disbursement_id": d.id, "status": d.status, "applied": len(applied),
            "unchanged": len(posted) - len(applied),
            "lines": [{"household_id": r.household_id, "status": r.status,
                       "outcome": "applied" if r.household_id in applied else "unchanged"} for r in posted]}
