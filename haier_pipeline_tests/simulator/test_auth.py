from __future__ import annotations

import pytest
import requests

from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.simulator.auth import decode_claims
from haier_pipeline_tests.simulator.helpers import PATHS, Api, FakeClock, body_for


def test_token_from_oauth2_auth_is_a_jwt_for_the_client(sim: RunningSimulator, api: Api) -> None:
    answer = api.token_response("/oauth2/auth")
    assert answer.status_code == 200
    body = answer.json()
    assert body["expires_in"] == 3600
    token = body["access_token"]
    assert token.count(".") == 2
    claims = decode_claims(token)
    assert claims["sub"] == "demo-client"
    assert claims["exp"] - claims["iat"] == 3600
    assert api.post("balance", token=token).status_code == 200


def test_auth_path_failure_leaves_only_oauth2_token(sim: RunningSimulator, api: Api) -> None:
    sim.config.auth_path_fails = True
    assert api.token_response("/oauth2/auth").status_code == 404
    answer = api.token_response("/oauth2/token")
    assert answer.status_code == 200
    assert api.post("balance", token=answer.json()["access_token"]).status_code == 200
    assert sim.counters.statuses("token") == {"404": 1, "200": 1}


@pytest.mark.parametrize(
    ("shape", "expires_in_at", "token_at", "expires_at"),
    [
        ("access_token", "top", ("access_token",), ("expires_in",)),
        ("token", "top", ("token",), ("expires_in",)),
        ("data.access_token", "top", ("data", "access_token"), ("expires_in",)),
        ("data.token", "data", ("data", "token"), ("data", "expires_in")),
        ("access_token", "data", ("access_token",), ("data", "expires_in")),
        ("data.access_token", "none", ("data", "access_token"), None),
        ("token", "none", ("token",), None),
    ],
)
def test_token_shapes_and_expires_in_placement(
    sim: RunningSimulator,
    api: Api,
    shape: str,
    expires_in_at: str,
    token_at: tuple[str, ...],
    expires_at: tuple[str, ...] | None,
) -> None:
    sim.config.token_shape = shape
    sim.config.expires_in_at = expires_in_at
    sim.config.advertised_expires_in = 1800
    body = api.token_response().json()

    def dig(path: tuple[str, ...]) -> object:
        node: object = body
        for key in path:
            assert isinstance(node, dict) and key in node, (path, body)
            node = node[key]
        return node

    token = dig(token_at)
    assert isinstance(token, str)
    assert decode_claims(token)["exp"] - decode_claims(token)["iat"] == 1800
    if expires_at is None:
        assert "expires_in" not in body and "expires_in" not in (body.get("data") or {})
    else:
        assert dig(expires_at) == 1800
    assert api.post("balance", token=token).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"client_secret": "wrong"}, 401),
        ({"client_id": "someone-else"}, 401),
        ({"grant_type": "password"}, 400),
        ({"client_secret": None}, 400),
    ],
)
def test_bad_token_requests(api: Api, overrides: dict[str, object], status: int) -> None:
    assert api.token_response("/oauth2/token", **overrides).status_code == status


def test_token_request_must_be_json(sim: RunningSimulator, api: Api) -> None:
    answer = api.session.post(sim.base_url + "/oauth2/token", data="client_id=demo-client", timeout=5)
    assert answer.status_code == 400


@pytest.mark.parametrize("scheme", ["bare", "bearer"])
def test_bare_and_bearer_authorization_both_work(api: Api, scheme: str) -> None:
    assert api.post("balance", scheme=scheme).status_code == 200


def _assert_token_invalid(answer: requests.Response) -> None:
    assert answer.status_code == 401
    assert answer.json() == {"code": 401, "msg": "token invalid"}


def test_missing_unknown_and_malformed_tokens_are_401(sim: RunningSimulator, api: Api) -> None:
    real = api.token()
    no_header = api.session.post(sim.base_url + PATHS["balance"], json=body_for("balance"), timeout=5)
    _assert_token_invalid(no_header)
    _assert_token_invalid(api.post("balance", token="not-a-token"))
    _assert_token_invalid(api.post("balance", token=real[:-2] + "xx"))
    _assert_token_invalid(api.post("stock", token="Bearer "))
    assert sim.counters.statuses("balance") == {"401": 3}


def test_token_dies_server_side_before_its_advertised_expiry(sim: RunningSimulator, api: Api, clock: FakeClock) -> None:
    sim.config.token_ttl = 60
    answer = api.token_response().json()
    token = answer["access_token"]
    assert answer["expires_in"] == 3600
    clock.advance(59.75)
    assert api.post("balance", token=token).status_code == 200
    clock.advance(0.25)
    _assert_token_invalid(api.post("balance", token=token))
    fresh = api.token_response().json()["access_token"]
    assert api.post("balance", token=fresh).status_code == 200


def test_revoked_tokens_are_401_and_new_ones_work(sim: RunningSimulator, api: Api) -> None:
    token = api.token()
    sim.revoke_tokens()
    _assert_token_invalid(api.post("prices", token=token))
    assert api.token_response().status_code == 200
    fresh = api.token_response().json()["access_token"]
    assert api.post("prices", token=fresh).status_code == 200
