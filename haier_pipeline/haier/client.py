"""HaierClient: one method per vendor endpoint, paced, retried, concurrent, and never leaking a secret."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import requests
from dagster import ConfigurableResource
from pydantic import PrivateAttr
from requests.adapters import HTTPAdapter

from haier_pipeline.haier import endpoints
from haier_pipeline.haier.auth import (
    TokenGrant,
    describe_token_failure,
    fallback_token_url,
    parse_token_answer,
    shared_token_cache,
)
from haier_pipeline.haier.envelopes import as_rows, unwrap
from haier_pipeline.haier.errors import (
    HaierAuthenticationError,
    HaierConfigurationError,
    HaierRequestError,
    HaierThrottledError,
)
from haier_pipeline.haier.pacing import shared_limiter
from haier_pipeline.haier.redaction import redact, redacting_logger, register_secret
from haier_pipeline.haier.stats import CallStats

log = redacting_logger("haier_pipeline.haier")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
STATUS_HINTS = {
    400: "The API rejected the request's parameters; this is a bug or a malformed code, not retried.",
    401: "The token was refused twice; check HAIER_CLIENT_ID / HAIER_CLIENT_SECRET and HAIER_AUTH_SCHEME.",
    403: "No permission: ask Haier to whitelist this machine's IP for the account.",
    404: "No such endpoint: check HAIER_BASE_URL (it must be the gateway root, without /yilihuo).",
    429: "Still throttled after retries: another process may share this account's rate limit (lower HAIER_RATE_LIMIT).",
}
SERVER_HINT = "The API kept failing after retries; try again later or check the vendor's status."

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """One item of a fan-out: its value, or the request error that survived every retry."""

    item: T
    value: R | None = None
    error: HaierRequestError | None = None


class HaierClient(ConfigurableResource):
    """The Haier dealer open platform. Secrets come from EnvVar; every request shares one limiter."""

    base_url: str
    token_url: str | None = None
    client_id: str
    client_secret: str
    customer_code: str
    send_to_code: str | None = None
    supplier_code: str = "1001"
    password: str
    seller_password: str | None = None
    customer_password: str | None = None
    auth_scheme: str = "bare"
    rate_limit: float = 100.0
    timeout: float = 30.0
    max_workers: int = 32
    max_retries: int = 3
    backoff_seconds: float = 0.5

    _session: requests.Session | None = PrivateAttr(default=None)
    _stats: CallStats = PrivateAttr(default_factory=CallStats)
    _trackers: list[CallStats] = PrivateAttr(default_factory=list)
    _init_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # ---- configuration ------------------------------------------------------------------------------

    @property
    def api_root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def _account(self) -> str:
        return f"{self.api_root}|{self.client_id}"

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or f"{self.api_root}/oauth2/auth"

    def _validate(self) -> None:
        problems = [
            f"{variable} is not set"
            for variable, value in (
                ("HAIER_BASE_URL", self.base_url),
                ("HAIER_CLIENT_ID", self.client_id),
                ("HAIER_CLIENT_SECRET", self.client_secret),
                ("HAIER_CUSTOMER_CODE", self.customer_code),
                ("HAIER_PASSWORD", self.password),
            )
            if not value
        ]
        if self.auth_scheme.lower() not in ("bare", "bearer"):
            problems.append(f"HAIER_AUTH_SCHEME={self.auth_scheme!r} must be 'bare' or 'bearer'")
        if problems:
            raise HaierConfigurationError(problems)

    def _http(self) -> requests.Session:
        with self._init_lock:
            if self._session is None:
                self._validate()
                for secret in (
                    self.client_secret,
                    self.password,
                    self.seller_password,
                    self.customer_password,
                ):
                    register_secret(secret)
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.max_workers + 4, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
            return self._session

    # ---- statistics ---------------------------------------------------------------------------------

    @property
    def stats(self) -> CallStats:
        """Everything this client sent since it was created."""
        return self._stats

    @contextmanager
    def track(self) -> Iterator[CallStats]:
        """Statistics of just the calls made inside the block (one asset step, one CLI query)."""
        tracker = CallStats()
        self._trackers.append(tracker)
        try:
            yield tracker
        finally:
            self._trackers.remove(tracker)

    def _record(
        self, endpoint: str, started: float, *, retry: bool, throttled: bool, failed: bool, status: int | None = None
    ) -> None:
        latency_ms = (time.monotonic() - started) * 1000
        # The vendor asks for every call to be logged; at DEBUG, so a run's event log keeps the summary only.
        log.debug("%s %s in %.0f ms%s", endpoint, status or "no answer", latency_ms, " (retry)" if retry else "")
        for stats in (self._stats, *self._trackers):
            stats.record(endpoint, latency_ms, retry=retry, throttled=throttled, failed=failed)

    # ---- token --------------------------------------------------------------------------------------

    def token(self) -> str:
        self._http()
        return shared_token_cache(self.resolved_token_url, self.client_id, self.client_secret).get(self._fetch_token)

    def _fetch_token(self) -> TokenGrant:
        session = self._http()
        body = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "client_credentials",
        }
        failures: list[str] = []
        fallback = fallback_token_url(self.resolved_token_url)
        for url in (self.resolved_token_url, fallback):
            if url is None:
                continue
            shared_limiter(self._account, self.rate_limit).acquire()
            started = time.monotonic()
            try:
                response = session.post(url, json=body, timeout=self.timeout)
            except requests.RequestException as error:
                self._record("token", started, retry=False, throttled=False, failed=True)
                raise HaierAuthenticationError(
                    redact(
                        f"Could not reach the token URL {url}: {type(error).__name__}. "
                        "Check HAIER_TOKEN_URL / HAIER_BASE_URL and the network."
                    )
                ) from None
            self._record(
                "token",
                started,
                retry=False,
                throttled=False,
                failed=response.status_code != 200,
                status=response.status_code,
            )
            if response.status_code == 200:
                try:
                    answer = json.loads(response.content)
                except ValueError:
                    raise HaierAuthenticationError(
                        f"{url} answered 200 with a body that is not JSON; check HAIER_TOKEN_URL."
                    ) from None
                grant = parse_token_answer(answer)
                log.info("token fetched from %s, valid %.0f s", url, grant.lifetime)
                return grant
            failures.append(describe_token_failure(url, response.status_code, response.text))
        raise HaierAuthenticationError(
            "No token: " + "; ".join(failures) + ". Check HAIER_CLIENT_ID, HAIER_CLIENT_SECRET and HAIER_TOKEN_URL."
        )

    # ---- one request --------------------------------------------------------------------------------

    def _post(self, endpoint: str, path: str, body: dict[str, Any]) -> Any:
        """POST with pacing, token, 401 refresh, retries with backoff; returns the unwrapped payload."""
        session = self._http()
        limiter = shared_limiter(self._account, self.rate_limit)
        tokens = shared_token_cache(self.resolved_token_url, self.client_id, self.client_secret)
        url = f"{self.api_root}{path}"
        token = tokens.get(self._fetch_token)
        refreshed = False
        attempt = 0
        while True:
            limiter.acquire()
            started = time.monotonic()
            is_retry = attempt > 0
            try:
                response = session.post(
                    url,
                    json=body,
                    headers={"Authorization": self._authorization(token)},
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                self._record(endpoint, started, retry=is_retry, throttled=False, failed=True)
                if attempt >= self.max_retries:
                    raise HaierRequestError(
                        endpoint,
                        None,
                        f"{type(error).__name__} after {attempt + 1} attempts",
                        "Check the network and HAIER_BASE_URL; HAIER_TIMEOUT sets the per-request limit.",
                    ) from None
                attempt += 1
                self._sleep_backoff(attempt)
                continue

            status = response.status_code
            self._record(
                endpoint, started, retry=is_retry, throttled=status == 429, failed=status != 200, status=status
            )
            if status == 401 and not refreshed:
                refreshed = True
                log.info("%s answered 401; refreshing the token once", endpoint)
                token = tokens.refresh_after_rejection(token, self._fetch_token)
                continue
            if status in RETRYABLE_STATUSES:
                if attempt >= self.max_retries:
                    error_type = HaierThrottledError if status == 429 else HaierRequestError
                    raise error_type(endpoint, status, self._excerpt(response), STATUS_HINTS.get(status, SERVER_HINT))
                attempt += 1
                retry_after = _retry_after_seconds(response)
                if status == 429:
                    limiter.defer(retry_after if retry_after is not None else 1.0)
                self._sleep_backoff(attempt, retry_after)
                continue
            if status != 200:
                raise HaierRequestError(
                    endpoint, status, self._excerpt(response), STATUS_HINTS.get(status, "Not retried.")
                )
            try:
                answer = json.loads(response.content, parse_float=Decimal)
            except ValueError:
                # A truncated or garbled 200 is server trouble, the same as a 5xx.
                if attempt >= self.max_retries:
                    raise HaierRequestError(
                        endpoint, status, "the body is not JSON: " + self._excerpt(response), SERVER_HINT
                    ) from None
                attempt += 1
                self._sleep_backoff(attempt)
                continue
            return unwrap(endpoint, answer)

    def _authorization(self, token: str) -> str:
        return f"Bearer {token}" if self.auth_scheme.lower() == "bearer" else token

    def _sleep_backoff(self, attempt: int, retry_after: float | None = None) -> None:
        if retry_after is not None:
            time.sleep(retry_after + random.uniform(0, 0.1))
            return
        delay = min(8.0, self.backoff_seconds * 2 ** (attempt - 1))
        time.sleep(delay * random.uniform(0.5, 1.5))

    @staticmethod
    def _excerpt(response: requests.Response) -> str:
        text = " ".join(response.text.split())
        return redact(text[:200]) or "(empty body)"

    # ---- concurrency --------------------------------------------------------------------------------

    def fan_out(
        self,
        call: Callable[[T], R],
        items: Sequence[T],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Outcome[T, R]]:
        """Run `call` for every item on the pool. A request error is kept per item; anything else
        (authentication, business failure, a bug) stops the whole fan-out and is raised."""
        outcomes: list[Outcome[T, R] | None] = [None] * len(items)
        done = 0
        workers = max(1, min(self.max_workers, len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="haier") as pool:
            futures: dict[Future[R], int] = {pool.submit(call, item): index for index, item in enumerate(items)}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    index = futures[future]
                    error = future.exception()
                    if error is None:
                        outcomes[index] = Outcome(items[index], value=future.result())
                    elif isinstance(error, HaierRequestError):
                        outcomes[index] = Outcome(items[index], error=error)
                    else:
                        for other in pending:
                            other.cancel()
                        raise error
                    done += 1
                if progress is not None:
                    progress(done, len(items))
        return [outcome for outcome in outcomes if outcome is not None]

    # ---- endpoints ----------------------------------------------------------------------------------

    def products(self, codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """All procurable products of the account (no codes), or those codes, 20 a call."""
        base = {
            "customerCode": self.customer_code,
            "sendToCode": self.send_to_code or self.customer_code,
            "supplierCode": self.supplier_code,
            "searchType": endpoints.SEARCH_TYPE,
            "passWord": self.password,
        }
        if codes is None:
            return as_rows(self._post("products", endpoints.PRODUCTS, base))
        rows: list[dict[str, Any]] = []
        for outcome in self.fan_out(
            lambda batch: as_rows(self._post("products", endpoints.PRODUCTS, {**base, "productCodes": batch})),
            endpoints.batches(list(codes)),
        ):
            if outcome.error is not None:
                raise outcome.error
            rows.extend(outcome.value or [])
        return rows

    def price_batch(self, codes: Sequence[str]) -> list[dict[str, Any]]:
        if not 1 <= len(codes) <= endpoints.MAX_CODES_PER_CALL:
            raise ValueError(f"a price call takes 1 to {endpoints.MAX_CODES_PER_CALL} codes, got {len(codes)}")
        body = {
            "customerCode": self.customer_code,
            "sendToCode": self.send_to_code or self.customer_code,
            "productCodes": list(codes),
            "priceType": endpoints.PRICE_TYPE,
            "passWord": self.password,
        }
        return as_rows(self._post("prices", endpoints.PRICES, body))

    def prices(
        self, codes: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> list[Outcome[list[str], list[dict[str, Any]]]]:
        """Prices for any number of codes: batches of 20 fanned out over the pool."""
        return self.fan_out(self.price_batch, endpoints.batches(list(dict.fromkeys(codes))), progress)

    def stock(self, product_code: str, county_code: str) -> list[dict[str, Any]]:
        """Warehouse rows able to serve one county with one product; empty means none can."""
        body = {
            "salesCode": self.customer_code,
            "senderCode": self.send_to_code or self.customer_code,
            "productCode": product_code,
            "countyCode": county_code,
            "source": endpoints.STOCK_SOURCE,
            "sellerPassword": self.seller_password or self.password,
        }
        return as_rows(self._post("stock", endpoints.STOCK, body))

    def stock_for_pairs(
        self, pairs: Sequence[tuple[str, str]], progress: Callable[[int, int], None] | None = None
    ) -> list[Outcome[tuple[str, str], list[dict[str, Any]]]]:
        return self.fan_out(lambda pair: self.stock(*pair), pairs, progress)

    def logistics(
        self, order_code: str, delivery_record_code: str | None = None, member_id: int | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """The order's records from the three logistics lists, keyed by the list's name."""
        body: dict[str, Any] = {
            "orderCode": order_code,
            "sellerCode": self.customer_code,
            "sellerPassword": self.seller_password or self.password,
        }
        if delivery_record_code:
            body["deliveryRecordCode"] = delivery_record_code
        if member_id is not None:
            body["memberId"] = member_id
        payload = self._post("logistics", endpoints.LOGISTICS, body) or {}
        if not isinstance(payload, dict):
            raise HaierRequestError(
                "logistics",
                200,
                f"expected an object with three lists, got {type(payload).__name__}",
                SERVER_HINT,
            )
        return {name: as_rows(payload.get(name)) for name in endpoints.LOGISTICS_LISTS}

    def balance(self) -> list[dict[str, Any]]:
        body = {
            "customerCode": self.customer_code,
            "customerPassword": self.customer_password or self.password,
        }
        return as_rows(self._post("balance", endpoints.BALANCE, body))


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), 60.0))
    except ValueError:
        return None
