"""The verifier's cache of verified tokens: one signature check per token, never past ``exp``, bounded."""

import time

import pytest

from shared.jwt import InvalidToken, KeyPair, Signer, Verifier


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> KeyPair:
    return KeyPair.from_file(tmp_path_factory.mktemp("keys") / "jwt.pem")


def pair(keys: KeyPair, **kw) -> tuple[Signer, Verifier]:
    return (Signer(keys, issuer="iss", audience="aud"), Verifier(keys, issuer="iss", audience="aud", **kw))


def counting(verifier: Verifier) -> list[str]:
    calls: list[str] = []
    decode = verifier._decode

    def wrapped(token: str) -> dict:
        calls.append(token)
        return decode(token)

    verifier._decode = wrapped
    return calls


def test_a_token_is_checked_once_and_its_claims_handed_out_as_copies(keys):
    signer, verifier = pair(keys)
    calls = counting(verifier)
    token, _ = signer.sign({"sub": "u1", "role": "county_admin"}, ttl=600)
    first = verifier.verify(token)
    first["role"] = "tampered"
    assert verifier.verify(token)["role"] == "county_admin"
    assert calls == [token]


def test_a_cached_token_is_refused_once_expired(keys):
    signer, verifier = pair(keys)
    token, claims = signer.sign({"sub": "u1"}, ttl=-9)      # inside the 10 s leeway for about a second
    assert verifier.verify(token)["sub"] == "u1"
    time.sleep(max(0.0, claims["exp"] + 10 - time.time()) + 1.1)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_refused_tokens_are_not_remembered_and_the_cache_is_bounded(keys):
    signer, verifier = pair(keys, cache_size=4)
    calls = counting(verifier)
    with pytest.raises(InvalidToken):
        verifier.verify("not-a-jwt")
    with pytest.raises(InvalidToken):
        verifier.verify("not-a-jwt")
    assert calls == ["not-a-jwt", "not-a-jwt"]
    for i in range(10):
        verifier.verify(signer.sign({"sub": f"u{i}"}, ttl=600)[0])
        assert len(verifier._verified) <= 4
