"""The real client against small real HTTP servers answering what a broken or hostile gateway sends: redirects,
lone surrogates, bodies nested too deep to read, bodies dribbled a byte at a time. The simulator serves a
well-behaved API; these shapes are written byte for byte here."""

from __future__ import annotations

import gzip
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from haier_pipeline.endpoints import endpoints
from haier_pipeline.endpoints.logistics_events import logistics_events
from haier_pipeline.endpoints.stock_snapshots import stock_snapshots
from haier_pipeline.haier import (
    HaierAnswerShapeError,
    HaierAuthenticationError,
    HaierBusinessError,
    HaierRequestError,
    HaierUnavailableError,
)
from haier_pipeline.haier.client import HaierClient
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, stock_for_pairs

SECRETS = (SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["password"])
ENDPOINTS = {
    "/oauth2/auth": "token",
    "/oauth2/token": "token",
    **{
        endpoint.request.path: endpoint.record.endpoint
        for endpoint in endpoints()
        if endpoint.request is not None and endpoint.record is not None
    },
}
STOCK_PATH = stock_snapshots.request.path if stock_snapshots.request else ""
LOGISTICS_LISTS = logistics_events.request.lists if logistics_events.request else ()
TOKEN = b'{"access_token": "tok-hostile-1", "expires_in": 3600}'
EMPTY = b'{"success": true, "data": []}'
CLIENT_IDS = itertools.count()


@dataclass
class Answer:
    body: bytes = EMPTY
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between the body's bytes: 0 sends it at once


@dataclass
class Received:
    endpoint: str
    method: str
    body: bytes
    client_port: int  # one per TCP connection


class Gateway:
    """A real HTTP server on a loopback port of its own: `answer(endpoint, body)` says what each request gets
    (None: a token, or an empty success), and every request is recorded."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], Answer | None]) -> None:
        self.received: list[Received] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint = ENDPOINTS.get(self.path.split("?")[0], "other")
                gateway.received.append(Received(endpoint, self.command, raw, self.client_address[1]))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                reply = answer(endpoint, body) or Answer(TOKEN if endpoint == "token" else EMPTY)
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    if not reply.drip:
                        self.wfile.write(reply.body)
                        return
                    for byte in reply.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(reply.drip)
                except OSError:  # the client hung up mid-body
                    self.close_connection = True

            do_GET = do_PUT = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    def calls(self, endpoint: str) -> int:
        return sum(request.endpoint == endpoint for request in self.received)


@contextmanager
def gateway(answer: Callable[[str, dict[str, Any]], Answer | None] = lambda endpoint, body: None) -> Iterator[Gateway]:
    running = Gateway(answer)
    thread = threading.Thread(target=running.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def client_of(api: Gateway, **overrides: Any) -> HaierClient:
    # A client id of its own: tokens are cached per process by URL and credentials, and a later test on a reused
    # loopback port must not find one of these.
    settings: dict[str, Any] = {
        "base_url": api.base_url,
        **SIMULATOR_CREDENTIALS,
        "client_id": f"hostile-{next(CLIENT_IDS)}",
        "backoff_seconds": 0.05,
    }
    return HaierClient(**{**settings, **overrides})


def assert_secret_free(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# ---- redirects --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_data_call_sends_nothing_elsewhere_and_says_to_set_the_base_url(status: int) -> None:
    with gateway() as elsewhere:
        location = f"http://127.0.0.1:{elsewhere.port}{STOCK_PATH}?session=abc123"

        def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
            return Answer(b"", status, {"Location": location}) if endpoint == "stock" else None

        with gateway(answer) as api:
            with pytest.raises(HaierRequestError) as raised:
                client_of(api).stock("GA0SZC00U", "110101")
            assert api.calls("stock") == 1, "a redirect is not retried"
        assert elsewhere.received == [], "the passwords never left for the other host"
    error = raised.value
    assert error.status == status and not error.transient
    message = str(error)
    assert message.startswith(f"stock: HTTP {status}: the API redirected to http://127.0.0.1:{elsewhere.port}.")
    assert "set HAIER_BASE_URL" in message
    assert "session=abc123" not in message and STOCK_PATH not in message
    assert_secret_free(message)


def test_a_redirected_token_call_sends_the_secret_nowhere_and_says_to_set_the_token_url() -> None:
    with gateway() as elsewhere:

        def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
            if endpoint == "token":
                return Answer(b"", 307, {"Location": f"http://127.0.0.1:{elsewhere.port}/oauth2/auth?x=1"})
            return None

        with gateway(answer) as api:
            with pytest.raises(HaierAuthenticationError) as raised:
                client_of(api).balance()
            assert api.calls("token") == 2, "/oauth2/auth, then the documented /oauth2/token fallback"
            assert api.calls("balance") == 0
        assert elsewhere.received == [], "the client secret never left for the other host"
    message = str(raised.value)
    assert f"redirected to http://127.0.0.1:{elsewhere.port}, not followed" in message
    assert "set HAIER_TOKEN_URL" in message and "x=1" not in message
    assert_secret_free(message)


# ---- lone surrogates ----------------------------------------------------------------------------------

# What a Java service sends when it cuts a string in the middle of an emoji: the first half of a pair, alone.
LONE = b"\\ud83d"
PAIR = b"\\ud83d\\ude00"  # a whole emoji, escaped: kept
CESU = "\ud83d".encode("utf-8", "surrogatepass")  # the same half as raw bytes (CESU-8), which json.loads lets through


def assert_encodes(value: Any) -> None:
    """Raises on a lone surrogate, as the warehouse write did."""
    json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")


def test_lone_surrogates_in_answers_become_replacement_characters() -> None:
    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        if endpoint == "products":
            row = b'{"productCode": "GA0SZC00U", "productModel": "EC6001' + LONE + b'", "isSales": "1"}'
            return Answer(b'{"success": true, "data": [' + row + b"]}")
        if endpoint == "prices":
            row = b'{"productCode": "GA0SZC00U", "supplyPrice": 1000.5, "reason": "' + CESU + b'", "x' + LONE + b'": 1}'
            return Answer(b'{"code": 200, "data": [' + row + b"]}")
        if endpoint == "stock" and body.get("productCode") == "GA0SZC00U":
            side = b'{"warehouseName": "\\u6d77\\u5c14' + LONE + b'", "tags": [["ok ' + PAIR + b'", "' + LONE + b'"]]}'
            row = b'{"secCode": "W1", "stock": "30", "side": ' + side + b"}"
            return Answer(b'{"success": true, "data": [' + row + b"]}")
        if endpoint == "stock":
            return Answer(b'{"success": false, "msg": "\\u5e93\\u5b58' + LONE + b' refused"}')
        return None

    with gateway(answer) as api:
        client = client_of(api)
        products = client.products(["GA0SZC00U"])
        prices = client.price_batch(["GA0SZC00U"])
        stock = client.stock("GA0SZC00U", "110101")
        with pytest.raises(HaierBusinessError) as raised:
            client.stock("GA1AB2C3D", "110101")
    assert products[0]["productModel"] == "EC6001\ufffd"
    assert prices[0]["reason"] == "\ufffd" and prices[0]["x\ufffd"] == 1
    assert stock[0]["side"] == {"warehouseName": "海尔\ufffd", "tags": [["ok \U0001f600", "\ufffd"]]}
    for value in (products, prices, stock, str(raised.value)):
        assert_encodes(value)
    assert "库存\ufffd refused" in str(raised.value)


def test_a_lone_surrogate_in_a_token_refusal_gives_an_error_that_can_be_printed() -> None:
    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        return Answer(b'{"code": 401, "msg": "invalid client ' + LONE + b'"}') if endpoint == "token" else None

    with gateway(answer) as api, pytest.raises(HaierAuthenticationError) as raised:
        client_of(api).balance()
    assert "invalid client \ufffd" in str(raised.value)
    str(raised.value).encode("utf-8")


# ---- nesting too deep to read -------------------------------------------------------------------------

DEEP = b"[" * 3000 + b"]" * 3000  # valid JSON of 6 kB, deeper than json.loads goes


def test_an_answer_nested_too_deep_is_a_refusal_of_that_item_naming_the_endpoint() -> None:
    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        if endpoint == "stock" and body.get("productCode") == "GA0SZC00U":
            return Answer(b'{"success": true, "data": [{"secCode": "W1", "stock": "30", "extra": ' + DEEP + b"}]}")
        return None

    with gateway(answer) as api:
        client = client_of(api)
        with pytest.raises(HaierAnswerShapeError) as raised:
            client.stock("GA0SZC00U", "110101")
        assert api.calls("stock") == 1, "the vendor would send the same body again: not retried"
        outcomes = stock_for_pairs(client, [("GA0SZC00U", "110101"), ("GA1AB2C3D", "110101")])
    error = raised.value
    assert error.endpoint == "stock" and not error.transient
    assert str(error).startswith("stock: HTTP 200: the answer nests too deep to read")
    assert isinstance(outcomes[0].error, HaierAnswerShapeError) and outcomes[0].refused
    assert outcomes[1].error is None, "the other items go on"


def test_a_token_answer_nested_too_deep_is_an_authentication_error() -> None:
    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        return Answer(b'{"access_token": "tok-1", "extra": ' + DEEP + b"}") if endpoint == "token" else None

    with gateway(answer) as api, pytest.raises(HaierAuthenticationError, match="nested too deep to read"):
        client_of(api).balance()


# ---- HAIER_TIMEOUT bounds the whole call ----------------------------------------------------------------

# A valid answer sent one byte every 0.2 s: some 16 s in all, each byte well within a 1 s read timeout.
DRIPPED = Answer(b'{"success": true, "data": [{"secCode": "W1", "stock": "30", "warehouseGrade": "0"}]}', drip=0.2)
DRIP_SECONDS = len(DRIPPED.body) * DRIPPED.drip


def test_a_dribbled_answer_is_abandoned_after_the_timeout_as_a_call_without_an_answer() -> None:
    with gateway(lambda endpoint, body: DRIPPED if endpoint == "stock" else None) as api:
        client = client_of(api, timeout=1, max_retries=1)
        client.token()
        started = time.monotonic()
        with pytest.raises(HaierRequestError) as raised:
            client.stock("GA0SZC00U", "110101")
        elapsed = time.monotonic() - started
        assert api.calls("stock") == 2, "no answer: retried"
    assert elapsed < DRIP_SECONDS / 2, f"{elapsed:.1f} s: the dribble was waited for"
    error = raised.value
    assert error.status is None and error.transient
    assert str(error).startswith("stock: no answer: ReadTimeout after 2 attempts")
    assert client.stats.by_endpoint()["stock"]["failures"] == 2


def test_the_breaker_counts_dribbled_answers_as_calls_without_an_answer() -> None:
    with gateway(lambda endpoint, body: DRIPPED if endpoint == "stock" else None) as api:
        client = client_of(api, timeout=1, max_retries=5, breaker_calls=2, breaker_seconds=1)
        with pytest.raises(HaierUnavailableError, match=r"^stock: no answer, ReadTimeout on 2 consecutive calls"):
            client.stock("GA0SZC00U", "110101")
        assert api.calls("stock") == 2


def test_a_dribbled_token_answer_is_no_answer_from_the_token_endpoint() -> None:
    with gateway(lambda endpoint, body: Answer(TOKEN, drip=0.2) if endpoint == "token" else None) as api:
        with pytest.raises(HaierUnavailableError, match=r"^token: no answer, ReadTimeout on 1 call"):
            client_of(api, timeout=1).balance()
        assert api.calls("balance") == 0


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_answers_read_in_time_parse_and_leave_their_connection_to_the_next_call(encoding: str) -> None:
    codes = [f"GA{number:04d}X" for number in range(2000)]  # a body of some 100 kB: several reads
    listing = json.dumps({"success": True, "data": [{"productCode": code} for code in codes]}).encode()
    if encoding == "gzip":
        listing = gzip.compress(listing)

    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        if endpoint == "balance":
            return Answer(b"county 11010 is not a county code", 400)
        return Answer(listing, headers={"Content-Encoding": encoding}) if endpoint == "products" else None

    with gateway(answer) as api:
        client = client_of(api)
        assert [row["productCode"] for row in client.products()] == codes
        assert [row["productCode"] for row in client.products()] == codes
        with pytest.raises(HaierRequestError, match="HTTP 400: county 11010 is not a county code"):
            client.balance()
        assert len({request.client_port for request in api.received}) == 1, "one connection for every call"


# ---- encodings and numbers json.loads alone would not read --------------------------------------------


@pytest.mark.parametrize("charset", ["GBK", "gb18030", "GB2312"])
def test_an_answer_in_the_chinese_charset_it_declares_is_read_in_that_charset(charset: str) -> None:
    listing = {"success": True, "data": [{"productCode": "GA0SZC00U", "productGroupNamd": "电热水器"}]}

    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        if endpoint == "products":
            encoded = json.dumps(listing, ensure_ascii=False).encode(charset)
            return Answer(encoded, headers={"Content-Type": f"application/json; charset={charset}"})
        return None

    with gateway(answer) as api:
        rows = client_of(api).products()
        assert api.calls("products") == 1, "read at once, not retried as a garbled body"
    assert rows == listing["data"]


def test_an_integer_too_long_for_python_reads_as_a_decimal_instead_of_a_garbled_answer() -> None:
    """Python refuses to convert an integer of more than 4,300 digits; the row's parse refuses it as out of range."""
    huge = b"9" * 5000

    def answer(endpoint: str, body: dict[str, Any]) -> Answer | None:
        if endpoint == "stock":
            return Answer(b'{"success": true, "data": [{"secCode": "C1", "stock": ' + huge + b"}]}")
        return None

    with gateway(answer) as api:
        (row,) = client_of(api).stock("GA0SZC00U", "110101")
        assert api.calls("stock") == 1, "not retried as server trouble"
    assert row["stock"] == Decimal(huge.decode())


# ---- logistics lists ---------------------------------------------------------------------------------


def logistics_answer(data: dict[str, Any]) -> Callable[[str, dict[str, Any]], Answer | None]:
    body = json.dumps({"success": True, "data": data}).encode()
    return lambda endpoint, _: Answer(body) if endpoint == "logistics" else None


def test_logistics_lists_are_found_whatever_the_case_of_their_names() -> None:
    data = {"GetAllLogisticsInfoByOrderCode": [{"a": 1}], "getstockdeliverylogisticsrecord": [{"b": 2}], "n": 1}
    with gateway(logistics_answer(data)) as api:
        lists = client_of(api).logistics("SO.1")
    assert lists == {
        "getAllLogisticsInfoByOrderCode": [{"a": 1}],
        "getStockDeliveryLogisticsRecord": [{"b": 2}],
        "getStockDeliveryLogisticsRecordThirdparty": [],
    }


@pytest.mark.parametrize(
    ("data", "kept", "unknown"),
    [
        (
            {"allLogisticsInfo": [{"a": 1}], "getStockDeliveryLogisticsRecord": []},
            {"allLogisticsInfo": [{"a": 1}]},
            ["allLogisticsInfo"],
        ),
        ({"result": {"getAllLogisticsInfoByOrderCode": [{"a": 1}]}}, {}, ["result"]),
        ({"getAllLogisticsInfoByOrderCode": [{"a": 1}], "traceId": "abc"}, {}, ["traceId"]),
    ],
)
def test_a_logistics_key_the_document_does_not_name_keeps_the_order_as_drift(
    data: dict[str, Any], kept: dict[str, Any], unknown: list[str]
) -> None:
    """Issue 25: such a key made the whole order unusable. Now it is drift, counted; a list of records under it is
    kept under its own name (it may be one of the three renamed: read as absent, its records would be deleted)."""
    with gateway(logistics_answer(data)) as api:
        answer = client_of(api).logistics("SO.1")
    known = {name: data.get(name, []) for name in LOGISTICS_LISTS}
    assert answer == {**known, **kept}
    assert list(answer.unknown_keys) == unknown


# ---- a secret the vendor quotes back where a message is cut -------------------------------------------------


def straddling(label: str, secret: str, cut: int) -> bytes:
    """A body quoting `label` then `secret` so that its first `cut` characters end in the middle of the secret."""
    return ("x" * (cut - len(label) - 1 - len(secret) // 2) + " " + label + secret + " trailing words").encode()


def assert_no_part_of(secret: str, text: str) -> None:
    assert secret[: len(secret) // 2] not in text, text


@pytest.mark.parametrize(
    ("endpoint", "status", "label", "secret", "error"),
    [
        ("balance", 403, "Authorization=", "tok-hostile-1", HaierRequestError),  # the token, echoed
        ("token", 401, "client_secret=", SIMULATOR_CREDENTIALS["client_secret"], HaierAuthenticationError),
    ],
)
def test_a_secret_quoted_in_an_error_body_across_the_cut_shows_no_part_of_it(
    endpoint: str, status: int, label: str, secret: str, error: type[Exception]
) -> None:
    body = straddling(label, secret, 200)
    with (
        gateway(lambda asked, _: Answer(body, status) if asked == endpoint else None) as api,
        pytest.raises(error) as raised,
    ):
        client_of(api).balance()
    assert_no_part_of(secret, str(raised.value))


def test_a_password_quoted_in_a_long_refusal_across_the_cut_shows_no_part_of_it() -> None:
    password = SIMULATOR_CREDENTIALS["password"]
    message = straddling("passWord=", password, 300).decode()
    body = json.dumps({"success": False, "msg": message}).encode()
    with (
        gateway(lambda endpoint, _: Answer(body) if endpoint == "balance" else None) as api,
        pytest.raises(HaierBusinessError) as raised,
    ):
        client_of(api).balance()
    assert_no_part_of(password, str(raised.value))
