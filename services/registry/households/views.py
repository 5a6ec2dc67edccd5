"""Rows → response bodies: labels beside codes, money as strings, personal data decrypted only for callers who
may see it (and masked from the stored masked copy otherwise, without decrypting anything).

Plain dicts rather than Pydantic models on purpose: the household read is the hot path. The shapes are the
``*Read`` schemas (tests validate them against those)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from services.registry import glossary as g
from shared.money import format_money, from_fen
from shared.pii import PiiCipher


def _bytes(value: Any) -> bytes | None:
    """bytea from a row (bytes) or from json_agg (``"\\x0a1b…"``)."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, memoryview):
        return value.tobytes()
    return bytes.fromhex(value[2:])


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str) else value


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def money(fen: int) -> str:
    return format_money(from_fen(fen))


def pending(row: Mapping[str, Any]) -> dict[str, Any] | None:
    if not row["pending_action"]:
        return None
    return {"action": row["pending_action"], "notice_id": row["pending_notice_id"], "year": row["pending_year"]}


def id_number(cipher: PiiCipher, enc: Any, masked: str, full: bool) -> str:
    return cipher.decrypt(_bytes(enc), field="id_number") if full else masked


def phone(cipher: PiiCipher, enc: Any, masked: str | None, full: bool) -> str | None:
    if enc is None:
        return None
    return cipher.decrypt(_bytes(enc), field="phone") if full else masked


def payout_account(cipher: PiiCipher, row: Mapping[str, Any], full: bool) -> dict[str, str] | None:
    if row["payout_account_enc"] is None:
        return None
    account = (cipher.decrypt(_bytes(row["payout_account_enc"]), field="payout_account") if full
               else row["payout_account_masked"])
    return {"bank_code": row["payout_bank_code"], "account_no": account}


def member_body(m: Mapping[str, Any], *, household_id: int, cipher: PiiCipher, full: bool,
                today: date) -> dict[str, Any]:
    born = _date(m["birth_date"])
    return {
        "id": m["id"], "household_id": household_id, "name": m["name"],
        "id_number": id_number(cipher, m["id_enc"], m["id_masked"], full),
        "sex": m["sex"], "sex_label": g.SEX_LABELS[m["sex"]], "birth_date": born.isoformat(), "age": _age(born, today),
        "relation": m["relation"], "relation_label": g.RELATION_LABELS[m["relation"]],
        "health": m["health"], "health_label": g.HEALTH_LABELS[m["health"]],
        "labor": m["labor"], "labor_label": g.LABOR_LABELS[m["labor"]],
        "education": m["education"],
        "education_label": g.EDUCATION_LABELS[m["education"]] if m["education"] else None,
        "in_school": m["in_school"], "migrant_worker": m["migrant_worker"], "version": m["version"],
    }


def income_body(i: Mapping[str, Any]) -> dict[str, Any]:
    net = i["wage_fen"] + i["production_fen"] + i["transfer_fen"] + i["property_fen"] - i["expenses_fen"]
    return {"year": i["year"], "wage": money(i["wage_fen"]), "production": money(i["production_fen"]),
            "transfer": money(i["transfer_fen"]), "property": money(i["property_fen"]),
            "expenses": money(i["expenses_fen"]), "net_income": money(net), "members": i["members"],
            "per_capita_net": money(i["per_capita_net_fen"])}


def assurance_body(a: Mapping[str, Any]) -> dict[str, Any]:
    body = {"year": a["year"], **{k: a[k] for k in g.ASSURANCES}}
    body["all_met"] = all(a[k] for k in g.ASSURANCES)
    return body


def _iso(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def household_body(row: Mapping[str, Any], *, cipher: PiiCipher, full: bool, today: date | None = None
                   ) -> dict[str, Any]:
    """The full household (``HouseholdRead``) from the view query's row."""
    today = today or date.today()
    hid = row["id"]
    return {
        "id": hid, "household_no": row["household_no"], "village_code": row["village_code"],
        "village_name": row["village_name"], "address": row["address"],
        "phone": phone(cipher, row["phone_enc"], row["phone_masked"], full),
        "attribute": row["attribute"], "attribute_label": g.ATTRIBUTE_LABELS[row["attribute"]],
        "main_cause": row["main_cause"], "main_cause_label": g.CAUSE_LABELS[row["main_cause"]],
        "other_causes": list(row["other_causes"]),
        "other_causes_labels": [g.CAUSE_LABELS[c] for c in row["other_causes"]],
        "identified_year": row["identified_year"],
        "payout_account": payout_account(cipher, row, full),
        "status": row["status"], "status_label": g.STATUS_LABELS[row["status"]],
        "pending_action": pending(row),
        "registered_year": row["registered_year"], "exit_year": row["exit_year"],
        "returned_year": row["returned_year"], "removed_year": row["removed_year"],
        "status_reason": row["status_reason"],
        "helper_user_id": row["helper_user_id"], "head_name": row["head_name"], "member_count": row["member_count"],
        "pii": "full" if full else "masked", "version": row["version"],
        "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
        "members": [member_body(m, household_id=hid, cipher=cipher, full=full, today=today)
                    for m in _json(row["members"])],
        "incomes": [income_body(i) for i in _json(row["incomes"])],
        "assurances": [assurance_body(a) for a in _json(row["assurances"])],
        "monitoring_case": _json(row["monitoring_case"]),
    }


def summary_body(row: Mapping[str, Any], *, cipher: PiiCipher, full: bool) -> dict[str, Any]:
    """One line of the household list (``HouseholdSummary``)."""
    head_id = (id_number(cipher, row["head_id_enc"], row["head_id_masked"], full)
               if row["head_id_enc"] is not None else None)
    return {
        "id": row["id"], "household_no": row["household_no"], "village_code": row["village_code"],
        "village_name": row["village_name"], "address": row["address"],
        "phone": phone(cipher, row["phone_enc"], row["phone_masked"], full),
        "head_name": row["head_name"], "head_member_id": row["head_member_id"], "head_id_number": head_id,
        "attribute": row["attribute"], "attribute_label": g.ATTRIBUTE_LABELS[row["attribute"]],
        "main_cause": row["main_cause"], "main_cause_label": g.CAUSE_LABELS[row["main_cause"]],
        "other_causes": list(row["other_causes"]), "identified_year": row["identified_year"],
        "status": row["status"], "status_label": g.STATUS_LABELS[row["status"]], "pending_action": pending(row),
        "helper_user_id": row["helper_user_id"], "member_count": row["member_count"],
        "pii": "full" if full else "masked", "version": row["version"],
    }
