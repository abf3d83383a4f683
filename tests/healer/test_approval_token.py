"""Approval tokens: authentic, bound to one incident and one action, dated; anything else
is refused without a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healer.approval_token import (
    MAX_TOKEN_CHARS,
    Action,
    ApprovalLinkError,
    check,
    new_nonce,
    sign,
    signing_key,
)

KEY = signing_key("server-secret-0123456789abcdef")
NOW = 1_750_000_000.0


def token(incident: int = 42, action: Action = Action.RESTART, expires: int = 1_750_003_600) -> str:
    return sign(KEY, incident, action, expires, new_nonce())


def test_a_signed_token_grants_its_one_action_on_its_one_incident_until_it_expires() -> None:
    grant = check(KEY, token(), NOW)
    assert (grant.incident_id, grant.action, grant.expires_at) == (
        42,
        Action.RESTART,
        1_750_003_600,
    )
    with pytest.raises(ApprovalLinkError) as refused:
        check(KEY, token(), 1_750_003_600.0)
    assert refused.value.expired


def test_every_token_has_its_own_nonce() -> None:
    assert len({check(KEY, token(), NOW).nonce for _ in range(200)}) == 200


@pytest.mark.parametrize("field", [1, 2, 3, 4, 5])
def test_changing_any_field_of_a_token_voids_it(field: int) -> None:
    parts = token().split(".")
    swaps = {1: "43", 2: "resolve", 3: "1850003600", 4: "B" * 16, 5: "C" * 43}
    parts[field] = swaps[field]
    with pytest.raises(ApprovalLinkError) as refused:
        check(KEY, ".".join(parts), NOW)
    assert not refused.value.expired


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = sign(
        signing_key("another-healer-0123456789"), 42, Action.RESTART, 1_750_003_600, "A" * 16
    )
    with pytest.raises(ApprovalLinkError):
        check(KEY, other, NOW)


def test_an_expired_token_is_told_apart_from_a_forged_one() -> None:
    with pytest.raises(ApprovalLinkError) as expired:
        check(KEY, token(expires=1_749_999_999), NOW)
    assert expired.value.expired and "expired" in str(expired.value)


@given(st.text(max_size=MAX_TOKEN_CHARS + 40))
def test_any_text_is_refused_with_a_reason_never_a_crash(text: str) -> None:
    with pytest.raises(ApprovalLinkError):
        check(KEY, text, NOW)


@given(st.integers(0, 2**63 - 1), st.sampled_from(list(Action)), st.integers(0, 10**12))
def test_every_token_this_healer_signs_reads_back_the_same(
    incident: int, action: Action, expires: int
) -> None:
    nonce = new_nonce()
    signed = sign(KEY, incident, action, expires, nonce)
    assert len(signed) <= MAX_TOKEN_CHARS
    if expires > NOW:
        grant = check(KEY, signed, NOW)
        assert (grant.incident_id, grant.action, grant.expires_at, grant.nonce) == (
            incident,
            action,
            expires,
            nonce,
        )
