"""Token answers in every shape the vendor's gateways use."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from haier_pipeline.haier import HaierAuthenticationError
from haier_pipeline.haier.auth import (
    IMMEDIATE_REFUSAL_SECONDS,
    MAX_REFRESHES_PER_MINUTE,
    TokenCache,
    TokenGrant,
    fallback_token_url,
    parse_token_answer,
)


def jwt(expires_in: float) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'exp': time.time() + expires_in, 'sub': 'x'})}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("answer", "lifetime"),
    [
        ({"access_token": "t-1", "expires_in": 1800}, 1800),
        ({"token": "t-1", "expires_in": "900"}, 900),
        ({"data": {"access_token": "t-1", "expires_in": 600}}, 600),
        ({"data": {"token": "t-1"}, "expires_in": 1200}, 1200),
        ({"access_token": "t-1"}, 3600),
    ],
)
def test_token_shapes_and_expires_in_placements(answer: dict, lifetime: float) -> None:
    grant = parse_token_answer(answer)
    assert grant.token == "t-1"
    assert grant.lifetime == lifetime


def test_lifetime_from_the_jwt_exp_when_expires_in_is_missing() -> None:
    grant = parse_token_answer({"data": {"token": jwt(1500)}})
    assert 1495 <= grant.lifetime <= 1500


def test_a_200_without_a_token_is_a_hard_failure() -> None:
    with pytest.raises(HaierAuthenticationError, match="HAIER_TOKEN_URL"):
        parse_token_answer({"success": True, "data": {}})


def test_the_fallback_url_is_oauth2_token_on_the_same_host() -> None:
    assert fallback_token_url("https://openplat.haier.net/oauth2/auth") == "https://openplat.haier.net/oauth2/token"
    assert fallback_token_url("https://openplat.haier.net/custom/token") is None


def test_a_200_without_a_token_carries_the_vendors_message() -> None:
    with pytest.raises(HaierAuthenticationError) as raised:
        parse_token_answer({"code": 40001, "msg": "client_id 未开通该接口权限", "data": None})
    assert "client_id 未开通该接口权限" in str(raised.value)


# ---- refresh per token, not per request --------------------------------------------------------------


class Issuer:
    """A token endpoint stand-in for the cache's unit tests: each fetch issues the next token."""

    def __init__(self, clock: list[float], delay: threading.Event | None = None) -> None:
        self.clock = clock
        self.issued: list[str] = []
        self.delay = delay

    def __call__(self) -> TokenGrant:
        if self.delay is not None:
            self.delay.wait(5)
        self.issued.append(f"token-{len(self.issued) + 1}")
        return TokenGrant(self.issued[-1], lifetime=3600)


def test_a_401_on_a_token_already_replaced_retries_with_the_current_one_without_a_fetch() -> None:
    now = [100.0]
    fetch = Issuer(now)
    cache = TokenCache(clock=lambda: now[0])
    first = cache.get(fetch)
    cache.accepted(first)
    now[0] += 30
    second = cache.refused(first, sent_at=now[0], fetch=fetch)
    assert (first, second) == ("token-1", "token-2")
    # A request that queued with token-1 comes back refused after the refresh: no new fetch.
    assert cache.refused(first, sent_at=now[0] - 1, fetch=fetch) == "token-2"
    assert fetch.issued == ["token-1", "token-2"]


def test_a_401_on_the_current_token_refreshes_it_once_however_many_threads_saw_it() -> None:
    now = [100.0]
    gate = threading.Event()
    fetch = Issuer(now, delay=gate)
    cache = TokenCache(clock=lambda: now[0])
    gate.set()
    refused = cache.get(fetch)
    cache.accepted(refused)
    now[0] += 60
    gate.clear()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.refused(refused, now[0], fetch))) for _ in range(24)
    ]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == ["token-2"] * 24
    assert fetch.issued == ["token-1", "token-2"]


def test_two_fresh_tokens_refused_on_first_use_are_bad_credentials() -> None:
    now = [100.0]
    fetch = Issuer(now)
    cache = TokenCache(clock=lambda: now[0])
    token = cache.get(fetch)
    token = cache.refused(token, sent_at=now[0] + 0.01, fetch=fetch)  # one strike: could be bad luck
    with pytest.raises(HaierAuthenticationError) as raised:
        cache.refused(token, sent_at=now[0] + 0.02, fetch=fetch)
    assert "HAIER_AUTH_SCHEME" in str(raised.value) and "HAIER_CLIENT_SECRET" in str(raised.value)
    assert len(fetch.issued) == 2


def test_a_token_that_was_accepted_or_refused_late_is_no_strike() -> None:
    now = [100.0]
    fetch = Issuer(now)
    cache = TokenCache(clock=lambda: now[0])
    token = cache.get(fetch)
    token = cache.refused(token, sent_at=now[0], fetch=fetch)  # strike one
    cache.accepted(token)  # ...but token-2 works: the gateway takes our tokens
    token = cache.refused(token, sent_at=now[0], fetch=fetch)
    now[0] += IMMEDIATE_REFUSAL_SECONDS + 1  # token-3 is first used long after its issue
    token = cache.refused(token, sent_at=now[0], fetch=fetch)
    assert token == "token-4"


def test_refreshes_are_bounded_per_minute_so_a_broken_gateway_cannot_loop() -> None:
    now = [100.0]
    fetch = Issuer(now)
    cache = TokenCache(clock=lambda: now[0])
    token = cache.get(fetch)
    for _ in range(MAX_REFRESHES_PER_MINUTE):
        cache.accepted(token)
        now[0] += 1
        token = cache.refused(token, sent_at=now[0], fetch=fetch)
    cache.accepted(token)
    with pytest.raises(HaierAuthenticationError, match="within a minute"):
        cache.refused(token, sent_at=now[0], fetch=fetch)
    now[0] += 61  # a minute later the budget is back
    assert cache.refused(cache.get(fetch), sent_at=now[0], fetch=fetch).startswith("token-")
