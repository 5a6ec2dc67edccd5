"""Events from other services turned into messages: ``HANDLERS`` maps each topic to its handler.

Each handler runs in the transaction that marks its event consumed (``shared.worker.dispatch``), so an
event is applied at most once; the messages themselves are unique too (an inbox message per event and
user, an SMS per business fact), so a fact reported again under a new event id is still one message.
The payloads are defined, field by field, in ``services.notifications.events``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import events, templates
from services.notifications.clients import gateway
from services.notifications.inbox import service as inbox
from services.notifications.pending.service import deferrable
from services.notifications.sms import service as sms

log = logging.getLogger("jingzhun.notifications.handlers")


async def helper_assigned(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an inbox message to the helper (帮扶责任人) now responsible for the household."""
    if (p := events.parse(events.HelperAssigned, event)) is None:
        return
    message = templates.helper_assigned(village_name=p.village_name, head_name=p.head_name,
                                        household_no=p.household_no)
    await inbox.deliver(session=session, user_id=p.helper_user_id, kind="helper.assigned", title=message.title,
                        body=message.body, event=event)


async def objection_created(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an inbox message to every officer whose scope covers the notice's region (asked of the gateway:
    county admins, township officers and village cadres). Deferred and retried while the gateway is away."""
    if (p := events.parse(events.ObjectionCreated, event)) is None:
        return
    officers = await gateway.officers_covering(ctx["services"], p.region_code)
    if not officers:
        log.warning("objection %s on notice %s: no officer covers region %s", p.objection_id, p.notice_id,
                    p.region_code)
    message = templates.objection_created(notice_title=p.notice_title, kind=p.kind, notice_id=p.notice_id,
                                           objection_id=p.objection_id)
    for officer in officers:
        await inbox.deliver(session=session, user_id=officer.user_id, kind="objection.created",
                            title=message.title, body=message.body, event=event)


async def monitoring_report_created(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an inbox message to every township officer whose township covers the report's village (asked of the
    gateway). Deferred and retried while the gateway is away."""
    if (p := events.parse(events.MonitoringReportCreated, event)) is None:
        return
    officers = await gateway.officers_covering(ctx["services"], p.village_code, roles=("township_officer",))
    if not officers:
        log.warning("monitoring report %s: no township officer covers village %s", p.report_id, p.village_code)
    message = templates.monitoring_report_created(village_name=p.village_name, reporter_name=p.reporter_name,
                                                  report_id=p.report_id)
    for officer in officers:
        await inbox.deliver(session=session, user_id=officer.user_id, kind="monitoring_report.created",
                            title=message.title, body=message.body, event=event)


async def objection_resolved(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an SMS to the objector's phone with the decision and the officer's reply."""
    if (p := events.parse(events.ObjectionResolved, event)) is None:
        return
    await sms.queue(session=session, settings=ctx["settings"], kind="objection.resolved",
                    dedupe_key=f"objection.resolved:{p.objection_id}", region_code=p.region_code,
                    phone=p.contact_phone, event=event, now=_now(ctx),
                    text=templates.objection_resolved(notice_title=p.notice_title, decision=p.decision,
                                                      reply=p.reply))


async def payment_paid(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an SMS to the household head: amount, purpose, the account's last four digits."""
    if (p := events.parse(events.PaymentPaid, event)) is None:
        return
    key = (f"payment.paid:{p.disbursement_id}:{p.household_id}" if p.disbursement_id is not None
           else f"payment.paid:event:{event['event_id']}")
    await sms.queue(session=session, settings=ctx["settings"], kind="payment.paid", dedupe_key=key,
                    region_code=p.region_code, phone=p.head_phone, event=event, now=_now(ctx),
                    text=templates.payment_paid(amount=p.amount, purpose=p.purpose, purpose_label=p.purpose_label,
                                                paid_at=p.paid_at, account_tail=p.account_tail))


async def payment_reversed(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an SMS to the household head, at the number the line's ``payment.paid`` SMS went to: the money was
    returned by the bank and will be paid again (ask the township). No earlier SMS: a ``failed`` one says so."""
    if (p := events.parse(events.PaymentReversed, event)) is None:
        return
    if p.disbursement_id is not None:
        key = f"payment.reversed:{p.disbursement_id}:{p.household_id}"
        phone = await sms.phone_of(session, ctx["settings"], f"payment.paid:{p.disbursement_id}:{p.household_id}")
    else:
        key, phone = f"payment.reversed:event:{event['event_id']}", None
    await sms.queue(session=session, settings=ctx["settings"], kind="payment.reversed", dedupe_key=key,
                    region_code=p.region_code, phone=phone, event=event, now=_now(ctx),
                    text=templates.payment_reversed(amount=p.amount, purpose=p.purpose,
                                                    purpose_label=p.purpose_label))


async def loan_reminder(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an SMS to the borrower (the household head): the loan by its number's last four, the due date and
    what is outstanding; once per (loan, kind, due date)."""
    if (p := events.parse(events.LoanReminder, event)) is None:
        return
    await sms.queue(session=session, settings=ctx["settings"], kind="loan.reminder",
                    dedupe_key=f"loan.reminder:{p.loan_no}:{p.kind}:{p.due_on.isoformat()}",
                    region_code=p.region_code, phone=p.head_phone, event=event, now=_now(ctx),
                    text=templates.loan_reminder(kind=p.kind, loan_no=p.loan_no, due_on=p.due_on,
                                                 outstanding=p.outstanding, days_overdue=p.days_overdue))


async def funds_alerts(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ one inbox message per county admin covering the county, per day (``as_of``), whatever the number of
    events saying so. Deferred and retried while the gateway is away."""
    if (p := events.parse(events.FundsAlerts, event)) is None:
        return
    admins = await gateway.officers_covering(ctx["services"], p.region_code, roles=("county_admin",))
    if not admins:
        log.warning("funds alerts of %s for %s: no county admin covers it", p.region_code, p.as_of)
    message = templates.funds_alerts(region_code=p.region_code, as_of=p.as_of, counts=p.counts,
                                     items=[i.model_dump() for i in p.items])
    for admin in admins:
        await inbox.deliver(session=session, user_id=admin.user_id, kind="funds.alerts", title=message.title,
                            body=message.body, event=event,
                            dedupe_key=f"funds.alerts:{p.region_code}:{p.as_of.isoformat()}")


async def monitoring_case_approved(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an inbox message to the household's helper, and an SMS to the household head in plain words (no risk
    details); once per case whatever the number of events saying so."""
    if (p := events.parse(events.MonitoringCase, event)) is None:
        return
    if p.helper_user_id:
        message = templates.monitoring_approved(village_name=p.village_name, head_name=p.head_name,
                                                household_no=p.household_no, case_no=p.case_no)
        await inbox.deliver(session=session, user_id=p.helper_user_id, kind="monitoring.case_approved",
                            title=message.title, body=message.body, event=event,
                            dedupe_key=f"monitoring.case_approved:{p.case_id}")
    await sms.queue(session=session, settings=ctx["settings"], kind="monitoring.case_approved",
                    dedupe_key=f"monitoring.case_approved:{p.case_id}", region_code=p.region_code,
                    phone=p.head_phone, event=event, now=_now(ctx), text=templates.monitoring_approved_sms())


async def monitoring_case_eliminated(session: AsyncSession, event: dict[str, Any], ctx: dict[str, Any]) -> None:
    """→ an inbox message to the household's helper (no SMS: nothing changes for the household that day)."""
    if (p := events.parse(events.MonitoringCase, event)) is None or not p.helper_user_id:
        return
    message = templates.monitoring_eliminated(village_name=p.village_name, head_name=p.head_name,
                                              household_no=p.household_no, case_no=p.case_no)
    await inbox.deliver(session=session, user_id=p.helper_user_id, kind="monitoring.case_eliminated",
                        title=message.title, body=message.body, event=event,
                        dedupe_key=f"monitoring.case_eliminated:{p.case_id}")


def _now(ctx: dict[str, Any]) -> datetime:
    """The worker's clock (tests fix it)."""
    return ctx["clock"]() if "clock" in ctx else datetime.now(UTC)


HANDLERS = {
    "helper.assigned": helper_assigned,
    "objection.created": deferrable(objection_created),
    "objection.resolved": objection_resolved,
    "monitoring_report.created": deferrable(monitoring_report_created),
    "payment.paid": payment_paid,
    "payment.reversed": payment_reversed,
    "loan.reminder": loan_reminder,
    "funds.alerts": deferrable(funds_alerts),
    "monitoring.case_approved": monitoring_case_approved,
    "monitoring.case_eliminated": monitoring_case_eliminated,
}
