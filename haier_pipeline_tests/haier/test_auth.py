"""Token answers in every shape the vendor's gateways use."""

from __future__ import annotations

import base64
import json
import time

import pytest

from haier_pipeline.haier import HaierAuthenticationError
from haier_pipeline.haier.auth import fallback_token_url, parse_token_answer


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
