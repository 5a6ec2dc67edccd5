"""One rule per kind of value a caller sends: every string passes ``shared.http_types.text_problem`` or a strict
format, every integer lies within what JSON carries exactly (I-JSON)."""

import enum
import types
import typing

import pytest
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from shared import idnumber, regions
from shared.http_types import JSON_INT_MAX, text_problem
from shared.testing import auth
from tests.conftest import _service_app
from tests.test_no_500 import SERVICES, all_routes


STRICT_FORMATS = {regions.validate, idnumber.normalize}      # a region code, an ID number: nothing free in them
# compared with what is stored, never stored or shown themselves
SECRETS = {"/api/v1/auth/token " + f for f in ("client_id", "client_secret", "grant_type", "password", "refresh_token",
                                                "username", "scope")} | {
    "/api/v1/auth/users UserCreate.password", "/api/v1/auth/users/{user_id} UserUpdate.password"}


def _guarded(metadata) -> bool:
    return any((isinstance(m, AfterValidator) and (m.func.__qualname__.startswith("_checked")
                                                   or m.func in STRICT_FORMATS))
               or getattr(m, "pattern", None) for m in metadata)


def _bounded(metadata) -> bool:
    def within(attr, limit):
        return any((v := getattr(m, attr, None)) is not None and limit(v) for m in metadata)
    return within("le", lambda v: v <= JSON_INT_MAX) and within("ge", lambda v: v >= -JSON_INT_MAX)


def unguarded(tp, metadata=(), path="", seen=None) -> list[str]:
    """Paths of ``str`` fields under ``tp`` that neither pass the text rule nor match a pattern, and of ``int``
    fields that may exceed I-JSON's range."""
    seen = set() if seen is None else seen
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        inner = [x for m in tp.__metadata__ for x in ([m, *m.metadata] if isinstance(m, FieldInfo) else [m])]
        return unguarded(args[0], (*metadata, *inner), path, seen)
    if tp is str:
        return [] if _guarded(metadata) else [path or "<body>"]
    if tp is int:
        return [] if _bounded(metadata) else [f"{path} (int)"]
    if origin is typing.Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return []
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return []
        seen.add(tp)
        return [p for name, f in tp.model_fields.items()
                for p in unguarded(f.annotation, f.metadata, f"{tp.__name__}.{name}", seen)]
    if origin in (typing.Union, types.UnionType):
        return [p for a in args for p in unguarded(a, metadata, path, seen)]
    if origin in (list, set, frozenset, tuple, dict):
        return [p for a in args if a is not Ellipsis for p in unguarded(a, (), f"{path}[]", seen)]
    return []


@pytest.mark.parametrize("service", SERVICES)
def test_every_text_and_integer_a_caller_sends_is_checked(settings, service):
    app = _service_app(service, settings)
    found = set()
    for route in all_routes(app.routes):
        for param in route.dependant.body_params:
            found.update(f"{route.path} {p}" for p in unguarded(param.field_info.annotation, param.field_info.metadata,
                                                               param.name))
    assert not found - SECRETS, sorted(found - SECRETS)


@pytest.mark.parametrize("value", ["a\u001fb", "a\x7fb", "\u200b", "\u200b\u200d", "甲\u202e乙", "甲\u2066乙",
                                   "\ud800"])
def test_the_rule_refuses_what_reads_otherwise_than_it_holds(value):
    assert text_problem(value) is not None


@pytest.mark.parametrize("value", ["王小明", "阿卜杜·热合曼", "Zoë", "e\u0301", "家住 3 组\t", ""])
def test_the_rule_keeps_real_names_and_addresses(value):
    assert text_problem(value.strip()) is None


def test_line_breaks_only_where_text_spans_lines():
    assert text_problem("第一行\n第二行") is not None
    assert text_problem("第一行\n第二行", multiline=True) is None


async def test_an_integer_json_cannot_carry_exactly_is_refused_with_or_without_an_idempotency_key(funds, token):
    body = {"allocation_id": 2**60, "title": "到户产业补助", "lines": [{"household_id": 1, "amount": "100.00"}]}
    for headers in (auth(token()), auth(token()) | {"Idempotency-Key": "k-2-60"}):
        r = await funds.post("/api/v1/disbursements", json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
