"""shared.pii: the key file, AES-GCM bound to its field, the keyed digest."""

import hashlib
import hmac
import os
import stat

import pytest

from shared import pii
from shared.settings import Settings


def test_key_is_created_once_with_mode_0600(tmp_path):
    settings = Settings(data_dir=tmp_path)
    path = pii.key_path(settings)
    assert path == tmp_path / "keys" / "pii.key" and not path.exists()
    key = pii.load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert pii.load_or_create_key(path) == key
    assert pii.key_path(Settings(data_dir=tmp_path, pii_key_file=tmp_path / "elsewhere.key")).name == "elsewhere.key"


def test_encryption_round_trip_and_binding(tmp_path):
    c = pii.PiiCipher(os.urandom(32))
    blob = c.encrypt("64012219800101123X", field="id_number")
    assert b"64012219800101123X" not in blob
    assert c.decrypt(blob, field="id_number") == "64012219800101123X"
    assert c.encrypt("64012219800101123X", field="id_number") != blob          # a fresh nonce each time
    with pytest.raises(pii.DecryptionError):
        c.decrypt(blob, field="phone")                                        # bound to its column
    with pytest.raises(pii.DecryptionError):
        pii.PiiCipher(os.urandom(32)).decrypt(blob, field="id_number")        # another key
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(pii.DecryptionError):
        c.decrypt(bytes(tampered), field="id_number")


def test_digest_is_keyed_and_separate_from_encryption():
    key = os.urandom(32)
    a, b = pii.PiiCipher(key), pii.PiiCipher(key)
    assert a.digest("64012219800101123X", field="id_number") == b.digest("64012219800101123X", field="id_number")
    assert len(a.digest("x", field="id_number")) == 32
    assert a.digest("x", field="id_number") != pii.PiiCipher(os.urandom(32)).digest("x", field="id_number")
    assert a.digest("x", field="id_number") != a.digest("x", field="phone")


def test_account_mask():
    assert pii.mask_account("6228480012345678901") == "622848*********8901"
    assert pii.mask_account("12345678") == "****5678"
    assert pii.mask_account(None) is None


def test_digest_is_hmac_sha256_and_bulk_helpers_agree():
    c = pii.PiiCipher(os.urandom(32))
    values = ["64012219800101123X", "13951234567", ""]
    assert [c.digest(v, field="id_number") for v in values] == [
        hmac.new(c._mac_key, b"id_number\x00" + v.encode(), hashlib.sha256).digest() for v in values]
    assert c.digests(values, field="id_number") == [c.digest(v, field="id_number") for v in values]
    blobs = c.encrypt_many(values, field="phone")
    assert [c.decrypt(b, field="phone") for b in blobs] == values
    assert len({b[1:13] for b in blobs}) == 3                       # a nonce each
    with pytest.raises(pii.DecryptionError):
        c.decrypt(blobs[0], field="id_number")
