"""The events this service consumes, exactly: one payload model per topic (what producers must send).

Producers may add fields (ignored). A payload that does not fit its model is logged and dropped: the event
counts as consumed, since retrying the same bytes cannot make it fit.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from shared.money import Money
from shared.regions import RegionCode

log = logging.getLogger("jingzhun.notifications.events")

Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else str(v))]
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
               Field(min_length=1, max_length=64)]


def _tail(value: Any) -> str | None:
    """The last four digits of an account (given as the tail, a masked account or the full number)."""
    if value is None:
        return None
    digits = str(value).strip()[-4:]
    return digits if len(digits) == 4 and digits.isascii() and digits.isdigit() else None


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class HelperAssigned(Payload):
    """``helper.assigned`` from the registry: a household was given a helper (帮扶责任人)."""

    helper_user_id: Id
    household_id: int | None = None
    household_no: Text = ""
    head_name: Text = ""
    village_name: Text = ""


class ObjectionCreated(Payload):
    """``objection.created`` from funds: a villager objected to a 公示 notice."""

    objection_id: int
    notice_id: int
    notice_title: Text
    kind: Text
    region_code: RegionCode


class MonitoringReportCreated(Payload):
    """``monitoring_report.created`` from the registry: a villager's 一码申报 (never their ID number or phone)."""

    report_id: int
    village_code: RegionCode
    region_code: RegionCode
    reporter_name: Text = ""
    village_name: Text = ""


class ObjectionResolved(Payload):
    """``objection.resolved`` from funds: an officer decided an objection; the objector gets an SMS."""

    objection_id: int
    notice_id: int
    notice_title: Text
    region_code: RegionCode
    contact_phone: Text                    # full number (funds keeps it for this reply)
    reply: Text = ""
    decision: Literal["upheld", "dismissed"]


class PaymentPaid(Payload):
    """``payment.paid`` from funds: the bank reported a disbursement line to a household as paid.

    ``head_phone`` is the head's full mobile number (null when the registry has none: no SMS, a ``failed``
    message says so); ``account_tail`` the last four digits of the 一卡通 account (a masked or full account
    number is cut to its last four here; never shown further). ``disbursement_id`` with ``household_id``
    identifies the line (one household at most once per batch): the same line reported twice is one SMS.
    """

    disbursement_id: int | None = None
    household_id: int
    household_no: Text = ""
    head_name: Text = ""
    head_phone: str | None = None
    amount: Money
    purpose: Text
    purpose_label: str | None = None
    account_tail: Annotated[str | None, BeforeValidator(_tail)] = None
    bank_ref: str | None = None
    paid_at: AwareDatetime
    region_code: RegionCode


class PaymentReversed(Payload):
    """``payment.reversed`` from funds: a bank statement reversed a paid line (退回), so its money is re-opened.

    It carries no phone: the household is told at the number its ``payment.paid`` SMS of the same line went to
    (``disbursement_id`` with ``household_id``). ``entry_id`` is the statement entry that reversed it.
    """

    disbursement_id: int | None = None
    line_id: int | None = None
    household_id: int
    household_no: Text = ""
    amount: Money
    purpose: Text
    purpose_label: str | None = None
    entry_id: int | None = None
    bank_code: Text = ""
    statement_id: Text = ""
    booked_on: date | None = None
    region_code: RegionCode


P = TypeVar("P", bound=Payload)


def parse(model: type[P], event: dict[str, Any]) -> P | None:
    try:
        return model.model_validate(event.get("payload") or {})
    except ValidationError as exc:
        log.error("dropping %s event %s: its payload does not fit (%s)", event.get("topic"), event.get("event_id"),
                  "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return None



class LoanReminder(Payload):
    """``loan.reminder`` from funds: a micro-loan is due soon or overdue; the borrower gets an SMS.

    ``head_phone`` is the borrower household head's full mobile number, or null (a ``failed`` message says
    so). ``loan_no``, ``kind`` and ``due_on`` identify the reminder: the same one twice is one SMS.
    """

    loan_no: Id
    kind: Literal["overdue", "due_soon"]
    household_id: int
    region_code: RegionCode
    bank_code: Text = ""
    head_name: Text = ""
    head_phone: str | None = None
    due_on: date
    outstanding: Money
    days_overdue: int = Field(default=0, ge=0)


class AlertItem(Payload):
    kind: Id
    entity: Id
    entity_id: Id
    since: Text = ""
    detail: Text = ""


class FundsAlerts(Payload):
    """``funds.alerts`` from funds, daily per county: the 滞留滞拨 alerts (CONTRACT §5) as of ``as_of``."""

    region_code: RegionCode
    as_of: date
    counts: dict[Annotated[str, Field(max_length=64)], Annotated[int, Field(ge=0)]] = {}
    # at most 20 are listed; more (a producer's mistake) are cut here rather than the day's alert dropped
    items: Annotated[list[AlertItem], BeforeValidator(lambda v: v[:20] if isinstance(v, list) else v)] = []


class MonitoringCase(Payload):
    """``monitoring.case_approved`` / ``monitoring.case_eliminated`` from the registry: a 防返贫监测 case of a
    household was approved (the household is a 监测对象) or its risk eliminated (风险消除).

    ``helper_user_id`` is the household's 帮扶责任人 (null: nobody to tell in the inbox); ``head_phone`` (approval
    only) the household's full mobile number for the head's SMS, or null (a ``failed`` message says so).
    """

    case_id: int
    case_no: Text = ""
    household_id: int
    household_no: Text = ""
    head_name: Text = ""
    village_name: Text = ""
    region_code: RegionCode
    helper_user_id: Annotated[str | None, BeforeValidator(
        lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)] = None
    head_phone: str | None = None
