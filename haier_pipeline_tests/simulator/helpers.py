"""A deliberately naive HTTP helper: tests speak the vendor document's field names themselves."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import requests

PATHS = {
    "products": "/yilihuo/jsh-service-goods-mall-search/api/product-info/procurable-products-out/"
    "check-procurable-products",
    "prices": "/yilihuo/jsh-service-goods-price/api/goods-price/price-daily-sales/price-query/pt-out-list-price",
    "stock": "/yilihuo/jsh-service-stock-mall/api/page/stock/get-available-stock-open",
    "logistics": "/yilihuo/ylh-cloud-service-stock/api/page/stock/logistics/sass/"
    "get-thirdparty-logistics-info-by-order-code-auth",
    "balance": "/yilihuo/jsh-service-finance-mall/api/page/account/account-balance-manager/"
    "get-payer-account-balance-by-customer-code",
}
CUSTOMER = "8800633175"
PASSWORD = "demo-password"
CREDENTIALS = {"client_id": "demo-client", "client_secret": "demo-secret", "grant_type": "client_credentials"}


def body_for(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """A valid body for the default simulator account; overrides replace or (value None) drop fields."""
    bodies: dict[str, dict[str, Any]] = {
        "products": {
            "customerCode": CUSTOMER,
            "sendToCode": CUSTOMER,
            "supplierCode": "1001",
            "searchType": "PTJSH",
            "passWord": PASSWORD,
        },
        "prices": {
            "customerCode": CUSTOMER,
            "sendToCode": CUSTOMER,
            "productCodes": ["GA0SZC00U"],
            "priceType": "PT",
            "passWord": PASSWORD,
        },
        "stock": {
            "salesCode": CUSTOMER,
            "senderCode": CUSTOMER,
            "productCode": "GA0SZC00U",
            "countyCode": "110101",
            "source": "JSH-B",
            "sellerPassword": PASSWORD,
        },
        "logistics": {"orderCode": "SO.20190106.000003", "sellerCode": CUSTOMER, "sellerPassword": PASSWORD},
        "balance": {"customerCode": CUSTOMER, "customerPassword": PASSWORD},
    }
    body = {**bodies[endpoint], **overrides}
    return {k: v for k, v in body.items() if v is not None}


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self._token: str | None = None

    def token_response(self, path: str = "/oauth2/auth", **overrides: Any) -> requests.Response:
        return self.session.post(self.base_url + path, json={**CREDENTIALS, **overrides}, timeout=10)

    def token(self) -> str:
        if self._token is None:
            answer = self.token_response("/oauth2/token")
            assert answer.status_code == 200, answer.text
            self._token = answer.json()["access_token"]
        return self._token

    def post(
        self,
        endpoint: str,
        body: Any = None,
        *,
        token: str | None = None,
        scheme: str = "bare",
        timeout: float = 10,
        **fields: Any,
    ) -> requests.Response:
        token = self.token() if token is None else token
        header = f"Bearer {token}" if scheme == "bearer" else token
        payload = body_for(endpoint, **fields) if body is None else body
        return self.session.post(
            self.base_url + PATHS[endpoint], json=payload, headers={"Authorization": header}, timeout=timeout
        )

    def data(self, endpoint: str, **fields: Any) -> Any:
        """The unwrapped payload of a successful call, decimals kept exact."""
        answer = self.post(endpoint, **fields)
        assert answer.status_code == 200, answer.text
        return unwrap(decode(answer))


def decode(answer: requests.Response) -> Any:
    return json.loads(answer.content, parse_float=Decimal)


def unwrap(body: Any) -> Any:
    if isinstance(body, dict) and "data" in body and ("success" in body or "code" in body):
        assert body.get("success", True) is True and str(body.get("code", 200)) == "200", body
        return body["data"]
    return body


class FakeClock:
    """The simulator's clock (`SimulatorState.clock`) moved by hand: time passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
