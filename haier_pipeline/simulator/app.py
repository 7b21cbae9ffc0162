"""The HTTP face of the simulator: the vendor's paths, checks and answers, plus admin endpoints."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from haier_pipeline.simulator import alternatives, quirks
from haier_pipeline.simulator import dataset as ds
from haier_pipeline.simulator.auth import token_answer, token_from_header
from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.simulator.render import error, failure, json_response, style_for, wrap
from haier_pipeline.simulator.state import SimulatorState

TOKEN_PATHS = ("/oauth2/auth", "/oauth2/token")
DATA_PATHS = {
    "/yilihuo/jsh-service-goods-mall-search/api/product-info/procurable-products-out/"
    "check-procurable-products": "products",
    "/yilihuo/jsh-service-goods-price/api/goods-price/price-daily-sales/price-query/pt-out-list-price": "prices",
    "/yilihuo/jsh-service-stock-mall/api/page/stock/get-available-stock-open": "stock",
    "/yilihuo/ylh-cloud-service-stock/api/page/stock/logistics/sass/"
    "get-thirdparty-logistics-info-by-order-code-auth": "logistics",
    "/yilihuo/jsh-service-finance-mall/api/page/account/account-balance-manager/"
    "get-payer-account-balance-by-customer-code": "balance",
}
PATH_OF = {name: path for path, name in DATA_PATHS.items()}

# Every route answers every method itself, so a wrong method is counted and answered in JSON.
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_CODES = 20
WRONG_PASSWORD = "约定密码错误"
WRONG_CUSTOMER = "客户编码与授权信息不匹配"
REFUSED_PRODUCT = "商品不存在或已停用"
NOT_WHITELISTED = "IP不在白名单内"
NO_PERMISSION = "unauthorized"
SERVER_ERROR = "系统异常"
# Statuses `status_in_body` answers with HTTP 200 and the status as the body's code (haier-api.md, Envelopes).
BODY_STATUSES = frozenset({401, 403, 429, 500, 503})
# A hung call waits for the client to hang up, checking this often, for at most MAX_HANG_SECONDS.
HANG_POLL_SECONDS = 0.05
MAX_HANG_SECONDS = 600.0
_COUNTY = re.compile(r"[0-9]{6}")

_HTML_FAULT = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>openresty</center></body></html>"
)
_TRUNCATED_FAULT = b'{"code":200,"msg":"ok","data":[{"productCode":"GA0S'

# Required body fields per endpoint, from the document's identity table and endpoint sections.
REQUIRED = {
    "products": ("customerCode", "supplierCode", "searchType", "passWord"),
    "prices": ("customerCode", "sendToCode", "productCodes", "priceType", "passWord"),
    "stock": ("salesCode", "senderCode", "productCode", "countyCode", "source", "sellerPassword"),
    "logistics": ("orderCode", "sellerCode", "sellerPassword"),
    "balance": ("customerCode", "customerPassword"),
}


class BadRequest(Exception):
    """A parameter the vendor rejects with HTTP 400."""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _codes(body: dict[str, Any], *, required: bool) -> list[str] | None:
    codes = body.get("productCodes")
    if codes is None or (codes == [] and not required):
        if required:
            raise BadRequest("productCodes is required")
        return None
    if not isinstance(codes, list) or not all(isinstance(c, str) and c.strip() for c in codes):
        raise BadRequest("productCodes must be a list of product code strings")
    if len(codes) > MAX_CODES:
        raise BadRequest(f"productCodes: at most {MAX_CODES} codes per request, got {len(codes)}")
    return codes


class _Handlers:
    def __init__(self, config: SimulatorConfig, state: SimulatorState) -> None:
        self.config = config
        self.state = state

    @property
    def dataset(self) -> ds.Dataset:
        return ds.dataset_for(self.config.seed, self.config.products)

    # ---- shared gateway behaviour --------------------------------------------------------------
    async def _gateway(
        self, request: Request, endpoint: str, inner: Callable[[Request, Any], Awaitable[Response]]
    ) -> Response:
        """Count, throttle, delay, then run the endpoint; every request ends with a recorded status."""
        counters = self.state.counters
        counters.record_arrival(endpoint, self.state.clock())
        status = 500
        try:
            raw = await request.body()
            body = _parse(raw)
            if endpoint in ("products", "prices") and isinstance(body, dict):
                codes = body.get("productCodes")
                if isinstance(codes, list):
                    counters.record_batch(len(codes))
            while endpoint in self.config.held_endpoints:
                await asyncio.sleep(0.01)
            if self.state.chance(self.config.hang_rate) or (endpoint == "token" and self.config.token_hang):
                response = await _hang(request)
                status = response.status_code
                return response
            admitted = self.state.limiter.admit(self.config.rate_limit, self.state.clock())
            if admitted and endpoint in PATH_OF:
                admitted = not self.state.chance(self.config.throttle_rate)
                if admitted and self.config.throttle_next > 0:
                    self.config.throttle_next -= 1  # one event loop serves every request: no other one in between
                    admitted = False
            delay = self.state.latency_seconds(self.config.latency_ms, self.config.latency_jitter_ms)
            if delay:
                await asyncio.sleep(delay)
            if not admitted:
                retry_after = {"Retry-After": _seconds(self.config.retry_after)}
                response = self._status(endpoint, 429, "请求过于频繁，请稍后再试", retry_after)
            elif request.method != "POST":
                response = error(405, "method not allowed")
            else:
                response = await inner(request, body)
            status = response.status_code
            return response
        finally:
            counters.record_status(endpoint, status)

    # ---- token ---------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        return await self._gateway(request, "token", self._token)

    async def _token(self, request: Request, body: Any) -> Response:
        config = self.config
        if request.url.path == "/oauth2/auth" and config.auth_path_fails:
            return error(404, "no such endpoint")
        if request.url.path == "/oauth2/auth" and config.auth_path_html:
            return Response(alternatives.LOGIN_PAGE, media_type="text/html;charset=UTF-8")
        if not isinstance(body, dict):
            return json_response({"error": "invalid_request", "error_description": "JSON body expected"}, 400)
        for field in ("client_id", "client_secret", "grant_type"):
            if _missing(body.get(field)):
                detail = {"error": "invalid_request", "error_description": f"{field} missing"}
                return json_response(detail, 400)
        if body["grant_type"] != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if body["client_id"] != config.client_id or body["client_secret"] != config.client_secret:
            return json_response({"code": 401, "msg": "invalid client credentials", "error": "invalid_client"}, 401)
        token = self.state.tokens.issue(
            config.client_id, config.advertised_expires_in, config.token_ttl, self.state.clock()
        )
        return json_response(
            token_answer(token, config.advertised_expires_in, config.token_shape, config.expires_in_at)
        )

    # ---- data endpoints ------------------------------------------------------------------------
    def data_route(self, endpoint: str) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            return await self._gateway(request, endpoint, lambda req, body: self._data(req, endpoint, body))

        return route

    async def _data(self, request: Request, endpoint: str, body: Any) -> Response:
        self.state.churn_tokens(self.config.token_revoke_every, self.state.clock())
        token = token_from_header(request.headers.get("authorization"), self.config.auth_scheme)
        if token is None or not self.state.tokens.is_valid(token, self.state.clock()):
            return self._status(endpoint, 401, "token invalid")
        if endpoint in self.config.unauthorized_endpoints:
            return self._status(endpoint, 401, NO_PERMISSION)
        if endpoint in self.config.forbidden_endpoints:
            return self._status(endpoint, 403, NOT_WHITELISTED, trace=True)
        if self.config.server_errors > 0:
            self.config.server_errors -= 1  # one event loop serves every request: no other request is in between
            return self._status(endpoint, 500, SERVER_ERROR)
        fault = self.state.draw_fault(self.config.fault_rate)
        if fault == "503":
            return self._status(endpoint, 503, "service unavailable")
        if fault == "html":
            return Response(_HTML_FAULT, media_type="text/html")
        if fault == "truncated":
            return Response(_TRUNCATED_FAULT, media_type="application/json")
        if not isinstance(body, dict):
            return error(400, "request body must be a JSON object")
        if _names_any(body, self.config.unavailable_products):
            return self._status(endpoint, 503, "service unavailable")
        style = style_for(self.config.envelope, endpoint)
        try:
            for field in REQUIRED[endpoint]:
                if _missing(body.get(field)):
                    raise BadRequest(f"missing required parameter: {field}")
            refusal, payload = getattr(self, f"_{endpoint}")(body, self.config.today())
        except BadRequest as exc:
            return error(400, str(exc))
        refusal = refusal or self.config.account_refusal or self._refused_product(body)
        if refusal:
            return json_response(failure(style, refusal))
        wrapped = self._first_page(payload) if endpoint == "products" else wrap(style, payload)
        if isinstance(wrapped, dict) and "code" in wrapped:
            if self.config.success_code:
                wrapped["code"] = self.config.success_code
            if self.config.success_msg:
                wrapped["msg"] = self.config.success_msg
            else:
                wrapped.pop("msg", None)
        return json_response(wrapped)

    def _status(
        self, endpoint: str, status: int, message: str, headers: dict[str, str] | None = None, *, trace: bool = False
    ) -> Response:
        """An error status of a data call: as the HTTP status, or (status_in_body) HTTP 200 carrying it as `code`. A
        `trace` id makes every body differ, as a gateway's trace ids do."""
        body: dict[str, Any] = {"code": status, "msg": message}
        if trace:
            body["traceId"] = uuid.uuid4().hex
        in_body = self.config.status_in_body and endpoint in PATH_OF and status in BODY_STATUSES
        return json_response(body, 200 if in_body else status, headers)

    def _first_page(self, rows: list[dict[str, Any]]) -> Any:
        """The listing as a paging gateway sends it: its first page, and how many there are in all."""
        size = self.config.listing_page_size
        if not size or len(rows) <= size:
            return wrap(style_for(self.config.envelope, "products"), rows)
        return {
            "success": True,
            "data": rows[:size],
            "total": len(rows),
            "pageNum": 1,
            "pageSize": size,
            "hasNextPage": True,
        }

    def _refused_product(self, body: dict[str, Any]) -> str | None:
        """A per-item failure envelope for a call naming a refused product (alone or in a batch)."""
        return REFUSED_PRODUCT if _names_any(body, self.config.refused_products) else None

    def _identity(self, body: dict[str, Any], sold_to: str, ship_to: str | None, password: str) -> str | None:
        """The refusal message when the account facts (named per endpoint) do not match, else None."""
        config = self.config
        if str(body[sold_to]) != config.customer_code:
            return WRONG_CUSTOMER
        ship_to_value = body.get(ship_to) if ship_to else None
        if ship_to_value is not None and str(ship_to_value) != config.send_to_code:
            return WRONG_CUSTOMER
        # passWord is the agreed password; sellerPassword and customerPassword are the customer password.
        expected = config.password if password == "passWord" else config.customer_password
        if body[password] != expected:
            return WRONG_PASSWORD
        return None

    def _products(self, body: dict[str, Any], day: date) -> tuple[str | None, Any]:
        supplier = str(body["supplierCode"])
        if supplier == "1001" and _missing(body.get("sendToCode")):
            raise BadRequest("missing required parameter: sendToCode")
        if body["searchType"] != "PTJSH":
            raise BadRequest("searchType must be PTJSH")
        if self.config.listing_requires_codes and body.get("productCodes") is None:
            raise BadRequest("missing required parameter: productCodes")
        codes = _codes(body, required=False)
        refusal = self._identity(body, "customerCode", "sendToCode", "passWord")
        if refusal or supplier != "1001" or self.config.empty_listing:
            return refusal, []
        data = self.dataset
        hidden = self.config.hidden_products
        if codes is None:
            rows = data.listing(hidden, everything=self.config.listing_not_procurable)
        else:
            rows = data.product_rows(codes, hidden)
        rate = self.config.bad_row_rate
        if rate > 0:
            rows = [
                ds.corrupt_product(r) if ds.is_bad_row(data.seed, rate, "product", r["productCode"]) else r
                for r in rows
            ]
        return None, quirks.products(rows, data.seed, self.config.quirk_rate, self.config.quirks)

    def _prices(self, body: dict[str, Any], day: date) -> tuple[str | None, Any]:
        if body["priceType"] != "PT":
            raise BadRequest("priceType must be PT")
        codes = _codes(body, required=True) or []
        refusal = self._identity(body, "customerCode", "sendToCode", "passWord")
        if refusal:
            return refusal, None
        data = self.dataset
        rows = alternatives.prices([data.price_row(code, day) for code in codes], self.config)
        rate = self.config.bad_row_rate
        if rate > 0:
            key = day.isoformat()
            rows = [
                ds.corrupt_price(r) if ds.is_bad_row(data.seed, rate, "price", r["productCode"], key) else r
                for r in rows
            ]
        return None, quirks.prices(
            rows, data.seed, self.config.quirk_rate, self.config.quirks, day, data.procurable_codes
        )

    def _stock(self, body: dict[str, Any], day: date) -> tuple[str | None, Any]:
        code, county = body["productCode"], body["countyCode"]
        if not isinstance(code, str):
            raise BadRequest("productCode must be a single product code string")
        if not isinstance(county, str) or not _COUNTY.fullmatch(county):
            raise BadRequest("countyCode must be a 6-digit county code")
        if body["source"] != "JSH-B":
            raise BadRequest("source must be JSH-B")
        config = self.config
        refusal = self._identity(body, "salesCode", "senderCode", "sellerPassword")
        if refusal:
            return refusal, None
        data = self.dataset
        rows = data.stock_rows(code, county, day)
        rate = config.bad_row_rate
        if rate > 0:
            key = day.isoformat()
            rows = [
                ds.corrupt_stock(r) if ds.is_bad_row(data.seed, rate, "stock", code, county, key, n) else r
                for n, r in enumerate(rows)
            ]
        return None, quirks.stock(rows, data.seed, config.quirk_rate, config.quirks, code, county, day)

    def _logistics(self, body: dict[str, Any], day: date) -> tuple[str | None, Any]:
        member = body.get("memberId")
        if member is not None and (isinstance(member, bool) or not isinstance(member, int)):
            raise BadRequest("memberId must be an integer")
        record = body.get("deliveryRecordCode")
        if record is not None and not isinstance(record, str):
            raise BadRequest("deliveryRecordCode must be a string")
        refusal = self._identity(body, "sellerCode", None, "sellerPassword")
        if refusal:
            return refusal, None
        order = str(body["orderCode"])
        return None, alternatives.logistics(self.dataset.logistics(order), self.config, order)

    def _balance(self, body: dict[str, Any], day: date) -> tuple[str | None, Any]:
        refusal = self._identity(body, "customerCode", None, "customerPassword")
        if refusal:
            return refusal, None
        return None, alternatives.balances(self.dataset.balances(self.config.customer_code), self.config)

    # ---- anything else -------------------------------------------------------------------------
    async def unknown(self, request: Request) -> Response:
        """A path the document does not name: 404, unless `extra_answers` gives it an answer (an endpoint declared
        beyond the documented ones, answered with a valid token in the configured envelope)."""
        answer = self.config.extra_answers.get(request.url.path)

        async def inner(req: Request, body: Any) -> Response:
            if answer is None:
                return error(404, "no such endpoint")
            token = token_from_header(request.headers.get("authorization"))
            if token is None or not self.state.tokens.is_valid(token, self.state.clock()):
                return error(401, "token invalid")
            return json_response(wrap(style_for(self.config.envelope, "extra"), answer))

        return await self._gateway(request, "unknown" if answer is None else "extra", inner)

    # ---- admin (not counted, not throttled, not delayed) ----------------------------------------
    async def stats(self, request: Request) -> Response:
        return json_response(self.state.counters.snapshot())

    async def reset(self, request: Request) -> Response:
        self.state.reset(self.config.seed)
        return json_response({"ok": True})

    async def config_knobs(self, request: Request) -> Response:
        if request.method == "POST":
            body = _parse(await request.body())
            if not isinstance(body, dict):
                return error(400, "JSON object of knob -> value expected")
            try:
                self.config.update(body)
            except (TypeError, ValueError) as exc:
                return error(400, str(exc))
        return json_response(self.config.as_dict())

    async def revoke(self, request: Request) -> Response:
        self.state.tokens.revoke_all()
        return json_response({"ok": True})


async def _hang(request: Request) -> Response:
    """No answer: wait until the client gives up and hangs up (then nobody reads the 504)."""
    waited = 0.0
    while waited < MAX_HANG_SECONDS and not await request.is_disconnected():
        await asyncio.sleep(HANG_POLL_SECONDS)
        waited += HANG_POLL_SECONDS
    return error(504, "gateway timeout")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _names_any(body: dict[str, Any], products: tuple[str, ...]) -> bool:
    """Whether a call names one of `products` (alone or in a batch)."""
    if not products:
        return False
    codes = body.get("productCodes")
    named = [body.get("productCode"), *(codes if isinstance(codes, list) else [])]
    return any(code in products for code in named if isinstance(code, str))


def _parse(raw: bytes) -> Any:
    """The JSON body, or None when there is none or it is not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def create_app(config: SimulatorConfig, state: SimulatorState) -> Starlette:
    h = _Handlers(config, state)
    routes = [
        Route("/_sim/stats", h.stats, methods=["GET"]),
        Route("/_sim/reset", h.reset, methods=["POST"]),
        Route("/_sim/config", h.config_knobs, methods=["GET", "POST"]),
        Route("/_sim/revoke-tokens", h.revoke, methods=["POST"]),
    ]
    routes += [Route(path, h.token, methods=ANY_METHOD) for path in TOKEN_PATHS]
    routes += [Route(path, h.data_route(name), methods=ANY_METHOD) for path, name in DATA_PATHS.items()]
    routes.append(Route("/{path:path}", h.unknown, methods=ANY_METHOD))
    return Starlette(routes=routes)
