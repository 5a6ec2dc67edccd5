"""Money, ID numbers and region codes as the contract (§2) defines them."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from shared import idnumber, regions
from shared.money import Money, round_fen, to_fen
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import BadRequest


class Pay(BaseModel):
    amount: Money


@pytest.mark.parametrize("raw, shown", [("3000", "3000.00"), (3000, "3000.00"), ("0.1", "0.10"), (12.5, "12.50"),
                                        ("1000000000000", "1000000000000.00"), ("0", "0.00")])
def test_money_accepts_strings_and_numbers_and_answers_two_decimals(raw, shown):
    assert Pay(amount=raw).model_dump(mode="json") == {"amount": shown}


@pytest.mark.parametrize("raw", ["-1", -0.01, "NaN", "Infinity", "1.001", 0.105, "1000000000000.01", True, "", "1e",
                                 None, [1], "1e3", " 1.00", "1.00 ", "\u0661\u0662", "\uff11\uff12", "1_000", "+1",
                                 "1.", ".5", "0x10", "-0"])
def test_money_refuses_what_the_contract_refuses(raw):
    with pytest.raises(ValidationError):
        Pay(amount=raw)


def test_money_rounding_is_half_up_to_the_fen():
    assert round_fen(Decimal("2.345")) == Decimal("2.35")
    assert round_fen(Decimal("2.344")) == Decimal("2.34")
    assert to_fen(Decimal("3000.00")) == 300000


VALID = "11010519491231002X"   # the standard's own example


def test_id_number_check_and_normalisation():
    assert idnumber.normalize(VALID.lower()) == VALID
    assert idnumber.birth_date(VALID) == date(1949, 12, 31)
    assert idnumber.sex(VALID) == "female"
    assert idnumber.mask(VALID) == "110105********002X"
    assert idnumber.mask_phone("13812345678") == "138****5678"
    made = idnumber.make("640122", date(1980, 2, 29), 17)
    assert idnumber.normalize(made) == made


@pytest.mark.parametrize("bad", ["11010519491231002", "110105194912310021", "11010519490231002X",
                                 "1101051949123100XX", "1101051949123100２X", "11010521991231002X"])
def test_id_number_refuses_wrong_length_digits_dates_and_check(bad):
    with pytest.raises(ValueError):
        idnumber.normalize(bad)


def test_region_codes():
    assert regions.level_of("640122000000") == "county"
    assert regions.level_of("640122100001") == "village"
    assert regions.parent("640122100001") == "640122100000"
    assert regions.parent("640122100000") == "640122000000"
    assert regions.covers("640122000000", "640122100001")
    assert not regions.covers("640122100000", "640122101001")
    for bad in ("64012200000", "6401220000000", "64012200000a", "000000000000", "640122000001", "640000100000"):
        with pytest.raises(ValueError):
            regions.validate(bad)


def test_cursor_round_trip_and_forgery():
    assert decode_cursor(encode_cursor({"id": 42}), id=int) == {"id": 42}
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    key = decode_cursor(encode_cursor({"at": at.isoformat(), "id": "00000000-0000-0000-0000-000000000001"}),
                        at=datetime, id=uuid.UUID)
    assert key == {"at": at, "id": uuid.UUID(int=1)}
    for forged in ("%%%", encode_cursor({"id": "42"}), encode_cursor({"id": 2**63}), encode_cursor({"at": "2026-01-02"}),
                   encode_cursor({"id": 1, "more": 2}), encode_cursor({})):
        with pytest.raises(BadRequest):
            decode_cursor(forged, id=int)


def test_masking_never_reveals_short_values_whole():
    for short in ("123", "12345678", "1381234"):
        assert idnumber.mask(short) != short and idnumber.mask_phone(short) != short
        assert sum(c.isdigit() for c in idnumber.mask_phone(short)) <= 2
    assert idnumber.mask_phone("+8613812345678") == "+86*******5678"


def test_a_configured_key_file_must_exist(tmp_path):
    from shared import pii
    from shared.jwt import KeyPair
    from shared.settings import Settings

    made = Settings(data_dir=tmp_path)                     # development: keys appear in the data dir
    assert KeyPair.for_settings(made).kid and pii.cipher(made).digest("x", field="f")
    assert (tmp_path / "keys" / "jwt_private.pem").stat().st_mode & 0o777 == 0o600
    mounted = Settings(data_dir=tmp_path, jwt_private_key_file=tmp_path / "missing.pem",
                       pii_key_file=tmp_path / "missing.key")
    with pytest.raises(RuntimeError, match="missing"):
        KeyPair.for_settings(mounted)
    with pytest.raises(RuntimeError, match="missing"):
        pii.cipher(mounted)
