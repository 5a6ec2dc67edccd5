import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.funds.notices.glossary import Decision, NoticeKind, NoticeStatus, ObjectionStatus, Requester
from shared.http_types import Phone, text
from shared.idnumber import IdNumber
from shared.money import Money
from shared.regions import RegionCode

MAX_ITEMS = 100_000        # a county's 低保 or 扶贫保 batch
MAX_DAYS = 90
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SAFE_INT = 2**53 - 1
_HASH_RECIPE = ("SHA-256 (hex) of the RFC 8785 canonical JSON of the object made of this answer's `kind`, "
                "`region_code`, `title`, `starts_at`, `ends_at` and `items` (all its pages in order), exactly as "
                "published.")


def _check_scalar(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > _SAFE_INT:
            raise ValueError(f"{where}: integer out of range")
        return
    if isinstance(value, str):
        if len(value) > 500 or "\x00" in value:
            raise ValueError(f"{where}: text longer than 500 characters or with NUL")
        return
    raise ValueError(f"{where}: must be text, an integer, true/false or null (write decimals as text)")


def _check_object(value: dict, where: str) -> None:
    if len(value) > 12:
        raise ValueError(f"{where}: at most 12 fields")
    for k, v in value.items():
        if not _KEY.match(k):
            raise ValueError(f"{where}: field names are lower-case ASCII words")
        _check_scalar(v, f"{where}.{k}")


def _check_extra(key: str, value: Any) -> None:
    if not _KEY.match(key):
        raise ValueError(f"display field {key[:40]!r}: names are lower-case ASCII words of up to 32 characters")
    if isinstance(value, list):
        if len(value) > 50:
            raise ValueError(f"{key}: at most 50 entries")
        for i, v in enumerate(value):
            _check_object(v, f"{key}[{i}]") if isinstance(v, dict) else _check_scalar(v, f"{key}[{i}]")
    elif isinstance(value, dict):
        _check_object(value, key)
    else:
        _check_scalar(value, key)


def _int_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _strip_phone(value: Any) -> Any:
    return value.replace(" ", "").replace("-", "") if isinstance(value, str) else value


class NoticeItemIn(BaseModel):
    """One listed item. Besides these fields, simple display fields may be added (address, attribute,
    main_cause, members, memo, purpose…): text, integers, booleans, or lists/objects of them.
    ID numbers and phone numbers are masked before anything is stored."""

    model_config = ConfigDict(extra="allow")

    ref: Annotated[text(128, min_length=1), BeforeValidator(_int_as_text)] = Field(description="the requester's reference for this item (a household id, a batch line)")
    name: text(64, min_length=1)
    id_number: IdNumber | None = None
    phone: text(32) | None = None
    amount: Money | None = None

    @model_validator(mode="after")
    def _extras(self) -> "NoticeItemIn":
        extra = self.model_extra or {}
        if len(extra) > 16:
            raise ValueError("at most 16 display fields besides ref, name, id_number, phone and amount")
        for key, value in extra.items():
            _check_extra(key, value)
        return self


class NoticeOpen(BaseModel):
    """Body of ``POST /internal/notices`` (service tokens only)."""

    model_config = ConfigDict(extra="forbid")

    kind: NoticeKind
    region_code: RegionCode
    title: text(200, min_length=1)
    requester: Requester
    requester_ref: text(128, min_length=1)
    items: list[NoticeItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    days: int | None = Field(None, ge=0, le=MAX_DAYS, description="length of the period; default and minimum "
                                                                   "JINGZHUN_NOTICE_MIN_DAYS")
    region_name: text(64) | None = Field(None, description="shown on the page; looked up in the registry if absent")

    @model_validator(mode="after")
    def _unique_refs(self) -> "NoticeOpen":
        refs = [i.ref for i in self.items]
        if len(set(refs)) != len(refs):
            raise ValueError("item refs must be unique within a notice")
        return self


class NoticeOpened(BaseModel):
    id: int
    kind: NoticeKind
    region_code: str
    title: str
    starts_at: str
    ends_at: str
    content_hash: str
    status: NoticeStatus


class ObjectionCounts(BaseModel):
    received: int = 0
    pending: int = 0
    upheld: int = 0
    dismissed: int = 0


class NoticeSummary(BaseModel):
    id: int
    kind: NoticeKind
    kind_label: str
    region_code: str
    region_name: str | None
    title: str
    starts_at: str = Field(description="RFC 3339, UTC, whole seconds (hashed as written)")
    ends_at: str = Field(description="RFC 3339, UTC, whole seconds (hashed as written)")
    status: NoticeStatus
    status_label: str
    item_count: int
    content_hash: str = Field(description=_HASH_RECIPE)


class NoticePublic(NoticeSummary):
    """A notice as anyone may read it, its items a page at a time (``?limit=`` up to 500, ``?cursor=``).
    ``content_hash`` can be recomputed from its pages (from this answer alone when ``items_next_cursor`` is null)."""

    items: list[dict[str, Any]] = Field(description="one page of the items as published, in order: names, masked ID "
                                                    "numbers and phones, amounts")
    items_next_cursor: str | None = Field(None, description="`?cursor=` for the next page of items; null on the "
                                                            "last page")
    amount_total: Money | None = Field(None, description="the sum of all items' amounts (every page)")
    objections: ObjectionCounts
    accepting_objections: bool
    closed_at: str | None = None
    struck_refs: list[str] | None = Field(None, description="after closing: items an upheld objection struck "
                                                            "(all of them when withdrawn)")
    withdraw_reason: str | None = None


class NoticeRead(NoticePublic):
    """The officers' view: the public content plus who asked for it and who closed it."""

    requester: Requester
    requester_ref: str
    opened_by: str
    closed_by: str | None = None
    version: int


class WithdrawIn(BaseModel):
    reason: text(500, min_length=2)


class ObjectionCreate(BaseModel):
    """A villager's objection; the phone is used only to send the reply and is never shown publicly."""

    model_config = ConfigDict(extra="ignore")

    contact_name: text(32, min_length=1)
    contact_phone: Annotated[Phone, BeforeValidator(_strip_phone)]
    content: text(1000, min_length=5)


class ObjectionAck(BaseModel):
    id: int
    notice_id: int
    status: ObjectionStatus
    contact_phone: str = Field(description="masked")
    created_at: datetime


class ObjectionRead(BaseModel):
    id: int
    notice_id: int
    contact_name: str
    contact_phone: str = Field(description="in full for the region's county_admin, township_officer and "
                                           "village_cadre; masked for others")
    content: str
    status: ObjectionStatus
    status_label: str
    reply: str | None
    item_refs: list[str] | None
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime
    version: int


class ObjectionResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reply: text(500, min_length=1)
    item_refs: list[text(128, min_length=1)] | None = Field(
        None, max_length=MAX_ITEMS, description="for an upheld objection: the listed items it strikes; may be "
                                                "omitted when the notice lists one item")
