"""HaierClient: one method per vendor endpoint, paced, retried, concurrent, and never leaking a secret."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import requests
from dagster import ConfigurableResource
from pydantic import PrivateAttr
from requests.adapters import HTTPAdapter

from haier_pipeline.api_urls import insecure_http_problems, url_secrets
from haier_pipeline.endpoints.account_balances import account_balances as BALANCE
from haier_pipeline.endpoints.declaration import AccountField, Request
from haier_pipeline.endpoints.logistics_events import logistics_events as LOGISTICS
from haier_pipeline.endpoints.prices import prices as PRICES
from haier_pipeline.endpoints.products import products as PRODUCTS
from haier_pipeline.endpoints.stock_snapshots import stock_snapshots as STOCK
from haier_pipeline.errors import (
    HaierAnswerShapeError,
    HaierAuthenticationError,
    HaierBusinessError,
    HaierConfigurationError,
    HaierError,
    HaierPermissionError,
    HaierRequestError,
    HaierThrottledError,
)
from haier_pipeline.haier.answers import (
    NoRedirectSession,
    declared_charset,
    is_redirect,
    parse_json,
    read_body,
    redirect_origin,
    retry_after_seconds,
)
from haier_pipeline.haier.auth import (
    TokenCache,
    TokenGrant,
    TokenKey,
    describe_token_failure,
    fallback_token_url,
    parse_token_answer,
    token_cache,
    token_cache_key,
)
from haier_pipeline.haier.breaker import BREAKER_CALLS, BREAKER_SECONDS, CircuitBreaker
from haier_pipeline.haier.discovery import LISTING_EMPTY_LIST, LISTING_OMITTED, SCHEMES, Discovery, shared_discovery
from haier_pipeline.haier.envelopes import StatusInBody, as_rows, read_envelope, success_codes_from
from haier_pipeline.haier.fan_out import FanOut, Outcome
from haier_pipeline.haier.no_answer import may_be_restarting, no_answer_cause
from haier_pipeline.haier.pacing import RateLimiter, shared_limiter
from haier_pipeline.haier.permission import forbidden_hint, unauthorized_hint
from haier_pipeline.haier.senders import Latency, senders_for
from haier_pipeline.haier.stats import CallStats
from haier_pipeline.redaction import excerpt, redact, redacting_logger, register_secret
from haier_pipeline.settings import FALLBACKS, default, default_token_url

log = redacting_logger("haier_pipeline.haier")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
STATUS_HINTS = {
    400: "The API rejected the request's parameters; this is a bug or a malformed code, not retried.",
    404: "No such endpoint: check HAIER_BASE_URL (it must be the gateway root, without /yilihuo).",
}
# A call that makes a step alone (the listing, the balance) waits out throttling for up to this many HAIER_TIMEOUTs of
# Retry-After, as long as a fan-out's items, retried and then given a second pass after the storm, would (issue 25).
THROTTLE_TIMEOUTS = 4.0
# Another process pacing this account within this many seconds before a call's first 429 counts as beside it.
OTHER_CALLER_WINDOW = 5.0
SERVER_HINT = "The API kept failing after retries; try again later or check the vendor's status."
NETWORK_HINT = "Check the network and HAIER_BASE_URL; HAIER_TIMEOUT sets the per-request limit."
TOKEN_UNREACHABLE_HINT = "check HAIER_TOKEN_URL, HAIER_BASE_URL and HAIER_TIMEOUT"
REDIRECT_HINT = (
    "Not followed: the request carries the account's passwords. If that is the API's address now, "
    "set HAIER_BASE_URL to it (https)."
)
TOO_DEEP = "the answer nests too deep to read (deeper than Python's JSON reader goes); ask the vendor about this item"

T = TypeVar("T")
R = TypeVar("R")

# Set on a sender thread while it runs a fan-out's item: a throttled item gives up after max_retries, for the
# fan-out's second pass to ask it again after the storm, where a call alone waits the storm out itself.
_fan_out_item = threading.local()


def as_fan_out_item(call: Callable[[T], R]) -> Callable[[T], R]:
    def item(value: T) -> R:
        _fan_out_item.active = True
        try:
            return call(value)
        finally:
            _fan_out_item.active = False

    return item


class _State:
    """The client's state, in a plain object: every call reads it, and each read of a pydantic private attribute (a
    ConfigurableResource's) costs microseconds, a dozen of them a call."""

    def __init__(self) -> None:
        self.init_lock = threading.Lock()
        self.session: NoRedirectSession | None = None
        self.limiter: RateLimiter | None = None
        self.breakers: dict[str, CircuitBreaker] = {}
        self.stats = CallStats()
        self.trackers: list[CallStats] = []
        self.latency = Latency()
        # The URL that served this client's last token: HAIER_TOKEN_URL, or its /oauth2/token fallback.
        self.token_served_by: str | None = None
        # `check --record`: called with (endpoint, url, request body, response) for every answer (first_contact).
        self.recorder: Callable[[str, str, dict[str, Any], requests.Response], None] | None = None
        # Set with the session, from the configuration: the token cache's key, HAIER_SUCCESS_CODES read.
        self.token_key: TokenKey | None = None
        self.success_codes: frozenset[str] | None = None


class HaierClient(ConfigurableResource):
    """The Haier dealer open platform. Secrets come from EnvVar; every request shares one limiter."""

    base_url: str
    token_url: str | None = None
    client_id: str
    client_secret: str
    customer_code: str
    send_to_code: str | None = None
    supplier_code: str = default("supplier_code")
    password: str
    seller_password: str | None = None
    customer_password: str | None = None
    # "bare" or "bearer" pins the Authorization scheme; None detects it: the bare token first, Bearer when a fresh
    # token is refused at its first use (haier.discovery).
    auth_scheme: str | None = default("auth_scheme")
    # HAIER_SUCCESS_CODES, comma-separated: the envelope codes that mean success (None: read by meaning).
    success_codes: str | None = default("success_codes")
    rate_limit: float = default("rate_limit")
    timeout: float = default("timeout")
    # The most threads a fan-out sends with; it uses as many as the answers' latency needs (see haier.senders).
    max_workers: int = 256
    max_retries: int = 3
    backoff_seconds: float = 0.5
    # Plain http to a host that is not loopback sends secrets in clear text: refused unless allowed.
    allow_insecure_http: bool = default("allow_insecure_http")
    # Where processes of one account share their rate limit (None: pacing.default_pacing_dir()).
    pacing_dir: str | None = None
    # The circuit breaker: this many consecutive calls without an answer, over at least this many seconds.
    breaker_calls: int = BREAKER_CALLS
    breaker_seconds: float = BREAKER_SECONDS
    # Quiet time before a fan-out's second pass over its unanswered items, after any 429 hold-off.
    second_pass_pause: float = 2.0

    _state: _State = PrivateAttr(default_factory=_State)

    # ---- configuration ------------------------------------------------------------------------------

    @property
    def api_root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def _account(self) -> str:
        return f"{self.api_root}|{self.client_id}"

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or default_token_url(self.base_url)

    def resolved(self, name: str) -> str:
        """A field's value; an optional one left unset takes the value of the field it falls back to (FALLBACKS)."""
        return getattr(self, name) or getattr(self, FALLBACKS.get(name, name))

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
        if self.auth_scheme and self.auth_scheme.lower() not in ("bare", "bearer"):
            problems.append(f"HAIER_AUTH_SCHEME={self.auth_scheme!r} must be 'bare' or 'bearer' (or unset: detected)")
        try:
            success_codes_from(self.success_codes)
        except ValueError as error:
            problems.append(f"HAIER_SUCCESS_CODES: {error}")
        problems += insecure_http_problems(self.base_url, self.token_url, self.allow_insecure_http)
        if problems:
            raise HaierConfigurationError(problems)

    def _http(self) -> NoRedirectSession:
        """The session, created once after the configuration passed: nothing is sent before that."""
        state = self._state
        if state.session is not None:
            return state.session
        with state.init_lock:
            if state.session is None:
                self._validate()
                for secret in (
                    self.client_secret,
                    self.password,
                    self.seller_password,
                    self.customer_password,
                    *url_secrets(self.base_url),
                    *url_secrets(self.token_url),
                ):
                    register_secret(secret)
                directory = Path(self.pacing_dir) if self.pacing_dir else None
                state.limiter = shared_limiter(self._account, self.rate_limit, directory)
                state.token_key = token_cache_key(self.resolved_token_url, self.client_id, self.client_secret)
                state.success_codes = success_codes_from(self.success_codes)
                session = NoRedirectSession()
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.max_workers + 4, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                state.session = session
            return state.session

    def _wired(self) -> _State:
        """The state, with the session and what is set beside it (see _http)."""
        state = self._state
        if state.session is None:
            self._http()
        return state

    def _pacer(self) -> RateLimiter:
        limiter = self._wired().limiter
        assert limiter is not None
        return limiter

    def _tokens(self) -> TokenCache:
        """The account's token cache, looked up each time: a test may make the process forget every token."""
        key = self._wired().token_key
        assert key is not None
        return token_cache(key)

    def _breaker(self, endpoint: str) -> CircuitBreaker:
        state = self._state
        breaker = state.breakers.get(endpoint)
        if breaker is None:
            with state.init_lock:
                breaker = state.breakers.get(endpoint) or CircuitBreaker(
                    endpoint, self.breaker_calls, self.breaker_seconds
                )
                state.breakers[endpoint] = breaker
        return breaker

    # ---- statistics ---------------------------------------------------------------------------------

    @property
    def stats(self) -> CallStats:
        """Everything this client sent since it was created."""
        return self._state.stats

    @contextmanager
    def track(self) -> Iterator[CallStats]:
        """Statistics of just the calls made inside the block (one asset step, one CLI query)."""
        tracker = CallStats()
        trackers = self._state.trackers
        trackers.append(tracker)
        try:
            yield tracker
        finally:
            trackers.remove(tracker)

    def _record(
        self, endpoint: str, started: float, *, retry: bool, throttled: bool, failed: bool, status: int | None = None
    ) -> None:
        latency_ms = (time.monotonic() - started) * 1000
        state = self._state
        if status is not None:  # an answer: a call that never got one says nothing of how long answers take
            state.latency.observe(latency_ms / 1000)
        # The vendor asks for every call to be logged; at DEBUG, so a run's event log keeps the summary only.
        log.debug("%s %s in %.0f ms%s", endpoint, status or "no answer", latency_ms, " (retry)" if retry else "")
        for stats in (state.stats, *state.trackers):
            stats.record(endpoint, latency_ms, retry=retry, throttled=throttled, failed=failed)

    def _record_senders(self, peak: int) -> None:
        state = self._state
        for stats in (state.stats, *state.trackers):
            stats.record_senders(peak)

    # ---- token --------------------------------------------------------------------------------------

    def token(self) -> str:
        return self._tokens().get(self._fetch_token)

    @property
    def token_served_by(self) -> str | None:
        """The URL that served the token this client fetched (None: it used one another client fetched)."""
        return self._state.token_served_by

    def _fetch_token(self) -> TokenGrant:
        """Try the token URL, then its /oauth2/token fallback; throttling and server trouble are retried.

        A 200 that is no token (a browser login page, JSON without a token field) is a refusal of that URL, as any
        other status is: `/oauth2/auth` is often the login page of a browser flow, and the fallback is tried.

        A call that waited out HAIER_TIMEOUT, a host name that does not resolve or a TLS failure fails at once
        (HaierUnavailableError): the token is one call per process and hour, and such a token URL means the API is
        gone, not slow. A connection refused or dropped at once is asked again, as the vendor asks for network
        failures: a gateway restarting looks like that."""
        body = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "grant_type": "client_credentials",
        }
        failures: list[str] = []
        redirected = False
        for url in (self.resolved_token_url, fallback_token_url(self.resolved_token_url)):
            if url is None:
                continue
            first_sent: float | None = None
            for attempt in range(self.max_retries + 1):
                breaker = self._breaker("token")
                breaker.check()
                self._pacer().acquire()
                started = time.monotonic()
                first_sent = started if first_sent is None else first_sent
                try:
                    response = self._send(url, body, started)
                except requests.RequestException as error:
                    self._record("token", started, retry=attempt > 0, throttled=False, failed=True)
                    if attempt < self.max_retries and may_be_restarting(error):
                        self._sleep_backoff(attempt + 1)
                        continue
                    cause = no_answer_cause(error)
                    raise breaker.trip(first_sent, cause, hint=TOKEN_UNREACHABLE_HINT, calls=attempt + 1) from None
                status = response.status_code
                self._record(
                    "token", started, retry=attempt > 0, throttled=status == 429, failed=status != 200, status=status
                )
                if status in RETRYABLE_STATUSES and attempt < self.max_retries:
                    self._hold_off(response, attempt + 1)
                    continue
                break
            if status == 200:
                try:
                    grant = parse_token_answer(self._token_answer(url, response))
                except HaierAuthenticationError as refusal:
                    self._keep_answer("token", url, body, response)
                    failures.append(redact(f"{url} answered HTTP 200 without a token: ") + str(refusal))
                    continue
                self._keep_answer("token", url, body, response)  # once the token is registered: recorded masked
                log.info("token fetched from %s, valid %.0f s", url, grant.lifetime)
                self._state.token_served_by = url
                self.discovery.token_fetched(url, grant.shape, grant.expires_from)
                return grant
            self._keep_answer("token", url, body, response)
            if is_redirect(status):
                redirected = True
                failures.append(redact(f"{url} redirected to {redirect_origin(response)}, not followed"))
            else:
                failures.append(describe_token_failure(url, status, response.text))
        if redirected:
            advice = (
                "A redirect is never followed with the client secret: if the token endpoint moved there, "
                "set HAIER_TOKEN_URL to its new address (https)."
            )
        else:
            advice = "Check HAIER_CLIENT_ID, HAIER_CLIENT_SECRET and HAIER_TOKEN_URL."
        raise HaierAuthenticationError("No token: " + "; ".join(failures) + ". " + advice)

    @staticmethod
    def _token_answer(url: str, response: requests.Response) -> Any:
        """The JSON of a 200 from a token URL, or HaierAuthenticationError saying what came instead."""
        content_type = (response.headers.get("Content-Type") or "").lower()
        if "html" in content_type or response.content.lstrip()[:1] == b"<":
            raise HaierAuthenticationError("an HTML page (a browser login page?), not a token answer in JSON.")
        try:
            return parse_json(response.content, declared_charset(response))
        except ValueError:
            raise HaierAuthenticationError("a body that is not JSON; check HAIER_TOKEN_URL.") from None
        except RecursionError:
            raise HaierAuthenticationError("a body nested too deep to read; check HAIER_TOKEN_URL.") from None

    # ---- what the client learned ----------------------------------------------------------------------

    @property
    def discovery(self) -> Discovery:
        """What this process learned about the account's gateway (haier.discovery)."""
        return shared_discovery(self._account)

    def detected(self) -> dict[str, Any]:
        """What was detected so far, for `check`: token shape, scheme, envelopes, the listing's form."""
        return self.discovery.as_dict(self.auth_scheme.lower() if self.auth_scheme else None)

    @contextmanager
    def recording(self, recorder: Callable[[str, str, dict[str, Any], requests.Response], None]) -> Iterator[None]:
        """Hand every answer received inside the block to `recorder` (endpoint, url, request body, response)."""
        self._state.recorder = recorder
        try:
            yield
        finally:
            self._state.recorder = None

    def _keep_answer(self, endpoint: str, url: str, body: dict[str, Any], response: requests.Response) -> None:
        recorder = self._state.recorder
        if recorder is not None:
            recorder(endpoint, url, body, response)

    # ---- one request --------------------------------------------------------------------------------

    def _post(self, endpoint: str, path: str, body: dict[str, Any]) -> Any:
        """POST with pacing, token, 401 refresh, retries with backoff; returns the unwrapped payload.

        The token is read after the pacing wait, just before sending, so a request never goes out with a
        token that was replaced while it queued or backed off. A 401 does not use up a retry: the token
        layer decides between "retry with the current token", "refresh" and "stop". A status the gateway puts in the
        body of a 200 (haier.envelopes.StatusInBody) is handled as that status. A 403, or a 401 on an endpoint for
        tokens the others accept, is a missing permission (HaierPermissionError): never retried. A 429 is waited
        out: by a call alone for up to THROTTLE_TIMEOUTS x HAIER_TIMEOUT, by a fan-out's item for max_retries (the
        fan-out's second pass asks it again after the storm)."""
        state = self._wired()
        limiter, success_codes = state.limiter, state.success_codes
        assert limiter is not None
        tokens = self._tokens()
        breaker = self._breaker(endpoint)
        alone = not getattr(_fan_out_item, "active", False)
        url = f"{self.api_root}{path}"
        attempt = 0
        sent = 0
        throttled_since: float | None = None
        throttles = 0
        while True:
            breaker.check()
            # A token before a slot: threads holding slots while the token call queues behind them would send
            # together once it arrives, a burst the gateway throttles.
            tokens.get(self._fetch_token)
            limiter.acquire()
            breaker.check()
            token = tokens.get(self._fetch_token)
            scheme = self._scheme()
            started = time.monotonic()
            is_retry = sent > 0
            sent += 1
            try:
                response = self._send(url, body, started, {"Authorization": self._authorization(token, scheme)})
            except requests.RequestException as error:
                self._record(endpoint, started, retry=is_retry, throttled=False, failed=True)
                cause = no_answer_cause(error)
                breaker.no_answer(started, cause)
                if attempt >= self.max_retries:
                    detail = f"{cause} after {attempt + 1} attempts"
                    raise HaierRequestError(endpoint, None, detail, NETWORK_HINT) from None
                attempt += 1
                self._sleep_backoff(attempt)
                continue

            breaker.answered()
            self._keep_answer(endpoint, url, body, response)
            status = response.status_code
            if is_redirect(status):
                self._record(endpoint, started, retry=is_retry, throttled=False, failed=True, status=status)
                detail = f"the API redirected to {redirect_origin(response)}"
                raise HaierRequestError(endpoint, status, detail, REDIRECT_HINT, transient=False)
            detail = ""
            in_body: StatusInBody | None = None
            if status == 200:
                try:
                    answer = parse_json(response.content, declared_charset(response), parse_float=Decimal)
                except RecursionError:
                    # The vendor will send the same body again: a refusal of this item, not server trouble.
                    self._record(endpoint, started, retry=is_retry, throttled=False, failed=True, status=status)
                    raise HaierAnswerShapeError(endpoint, TOO_DEEP) from None
                except ValueError:
                    # A truncated or garbled 200 is server trouble, the same as a 5xx.
                    self._record(endpoint, started, retry=is_retry, throttled=False, failed=True, status=status)
                    if attempt >= self.max_retries:
                        raise HaierRequestError(
                            endpoint,
                            status,
                            "the body is not JSON: " + self._excerpt(response),
                            SERVER_HINT,
                            transient=True,
                        ) from None
                    attempt += 1
                    self._sleep_backoff(attempt)
                    continue
                try:
                    envelope = read_envelope(endpoint, answer, success_codes)
                except StatusInBody as said:
                    in_body, status = said, said.status
                    detail = f"answered HTTP 200 carrying code {said.code} in its body: {said.reason}"
                except HaierError:  # a refusal, or an unusable answer: the gateway took the token
                    self._record(endpoint, started, retry=is_retry, throttled=False, failed=True, status=status)
                    self._token_worked(tokens, token, scheme, endpoint, (path, body, len(response.content)))
                    raise
                else:
                    self._record(endpoint, started, retry=is_retry, throttled=False, failed=False, status=status)
                    self._token_worked(tokens, token, scheme, endpoint, (path, body, len(response.content)))
                    self.discovery.envelope_seen(endpoint, envelope.style, envelope.code, envelope.by_meaning)
                    return envelope.payload
            else:
                detail = self._excerpt(response)
            self._record(
                endpoint, started, retry=is_retry, throttled=status == 429, failed=True, status=response.status_code
            )
            if status == 401:
                log.info("%s answered 401; retrying with a current token", endpoint)
                self._refused_token(endpoint, tokens, token, scheme, started, detail)
                continue
            if status == 403:
                tokens.accepted(token)  # past the token check, or before it: either way no refresh helps
                raise HaierPermissionError(endpoint, 403, detail, forbidden_hint(endpoint))
            if status == 429:
                throttled_since = started if throttled_since is None else throttled_since
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                if alone:
                    throttles += 1
                    # Retry-After as the gateway asks; without it (or 0), a backoff that grows.
                    wait = retry_after if retry_after else self._backoff_delay(throttles)
                    if started + wait - throttled_since > self.timeout * THROTTLE_TIMEOUTS:
                        raise self._throttled(endpoint, detail, throttled_since)
                    limiter.defer(wait)
                    time.sleep(wait + random.uniform(0, 0.1))
                    continue
                if attempt >= self.max_retries:
                    raise self._throttled(endpoint, detail, throttled_since)
                attempt += 1
                self._hold_off(response, attempt)
                continue
            if status in RETRYABLE_STATUSES:
                if attempt >= self.max_retries:
                    if in_body is not None and status == 500:
                        # The same reason after every retry, with HTTP 200: the vendor's answer, not server trouble.
                        raise in_body
                    raise HaierRequestError(endpoint, status, detail, SERVER_HINT)
                attempt += 1
                self._hold_off(response, attempt)
                continue
            tokens.accepted(token)  # not on a 429 or 5xx: a layer in front of the token check may send those
            raise HaierRequestError(endpoint, status, detail, STATUS_HINTS.get(status, "Not retried."))

    def _token_worked(
        self,
        tokens: TokenCache,
        token: str,
        scheme: str,
        endpoint: str,
        request: tuple[str, dict[str, Any], int],
    ) -> None:
        """An answer past the token check: the token, its scheme and the endpoint's permission all work. `request`
        (path, body, answer size): a request the endpoint answers, to ask whether a token refused elsewhere works."""
        tokens.accepted(token)
        discovery = self.discovery
        discovery.endpoint_accepted(endpoint, *request)
        if not self.auth_scheme:
            discovery.scheme_works(scheme)

    def _works_elsewhere(self, token: str, scheme: str) -> Callable[[str, str, dict[str, Any]], bool]:
        """Whether `token` gets past the token check of another endpoint, asked with a request it answered before."""

        def ask(endpoint: str, path: str, body: dict[str, Any]) -> bool:
            self._pacer().acquire()
            started = time.monotonic()
            headers = {"Authorization": self._authorization(token, scheme)}
            try:
                response = self._send(f"{self.api_root}{path}", body, started, headers)
            except requests.RequestException:
                return False  # no answer: nothing learned, the refusal is the token's as far as we know
            status = response.status_code
            self._record(endpoint, started, retry=False, throttled=status == 429, failed=status != 200, status=status)
            if status == 200:
                try:
                    read_envelope(endpoint, parse_json(response.content, declared_charset(response)))
                except StatusInBody as said:
                    status = said.status
                except (HaierError, ValueError, RecursionError):
                    pass  # a refusal or an odd body: past the token check all the same
            log.info("asked %s whether it takes a token another endpoint refused: status %s", endpoint, status)
            return status not in (401, 429) and status not in RETRYABLE_STATUSES

        return ask

    def _answered_elsewhere(self, endpoint: str, token: str, schemes: tuple[str, ...]) -> tuple[str, str] | None:
        """The endpoint and scheme, if any, that take `token` refused by `endpoint` before anything answered: the
        listing asked for a code no product has (a small answer, or a refusal past the token check), or the balance
        when the listing is the one refusing."""
        other, request = ("balance", BALANCE.call) if endpoint == "products" else ("products", PRODUCTS.call)
        body = self.body(request)
        if request.everything is not None:
            body[request.everything] = ["0"]
        for scheme in schemes:
            if self._works_elsewhere(token, scheme)(other, request.path, body):
                return other, scheme
        return None

    def _refused_token(
        self, endpoint: str, tokens: TokenCache, token: str, scheme: str, sent_at: float, detail: str
    ) -> None:
        """A 401: the other scheme once for a fresh token (unless HAIER_AUTH_SCHEME pins it), a missing permission
        when the endpoint refuses tokens the others accept, else the token layer's refresh (or stop)."""
        discovery = self.discovery
        detecting = not self.auth_scheme
        if detecting and tokens.unproven(token) and discovery.switch_scheme(scheme, token):
            return
        if tokens.is_current(token):
            # Each scheme in its order, the default first: the one that answers is the gateway's.
            schemes = SCHEMES if detecting else (scheme,)
            found = discovery.refused_at_first_contact(
                endpoint, token, lambda: self._answered_elsewhere(endpoint, token, schemes)
            )
            if found is not None:
                other, working = found
                tokens.accepted(token)
                if detecting:
                    discovery.scheme_found(working)
                raise HaierPermissionError(endpoint, 401, detail, unauthorized_hint(endpoint, [other]))
        # Only the current token says anything of the endpoint: an older one may simply have been replaced.
        works_elsewhere = self._works_elsewhere(token, scheme)
        if tokens.is_current(token) and discovery.lacks_permission(endpoint, token, works_elsewhere):
            hint = unauthorized_hint(endpoint, discovery.others_accepting(endpoint))
            raise HaierPermissionError(endpoint, 401, detail, hint)
        try:
            tokens.refused(token, sent_at, self._fetch_token)
        except HaierAuthenticationError as error:
            if detecting and discovery.scheme_switched and not discovery.scheme_confirmed:
                both = " (Both schemes were tried: the bare token and Bearer.)"
                raise HaierAuthenticationError(f"{error}{both}") from None
            raise

    def _throttled(self, endpoint: str, detail: str, since: float) -> HaierThrottledError:
        """Still throttled: what was seen, another caller pacing this account on this machine, or a storm."""
        waited = time.monotonic() - since
        other = self._pacer().other_caller_since(since - OTHER_CALLER_WINDOW)
        if other is not None:
            hint = (
                f"Still throttled after {waited:.0f} s of retries: another process on this machine (pid {other}) "
                "was calling the API with this account meanwhile, and the account's limit is shared. Let it finish, "
                "or lower HAIER_RATE_LIMIT for both."
            )
        else:
            hint = (
                f"Still throttled after {waited:.0f} s of retries, although no other process on this machine called "
                "with this account and this one paced its calls within HAIER_RATE_LIMIT: a throttling storm at the "
                "gateway (or another machine using the account). Try again later; ask Haier if it persists."
            )
        return HaierThrottledError(endpoint, 429, detail, hint)

    def _send(
        self, url: str, body: dict[str, Any], started: float, headers: dict[str, str] | None = None
    ) -> requests.Response:
        """POST one request and read its whole answer by `started` + HAIER_TIMEOUT, or raise ReadTimeout.

        requests' timeout bounds the connect and each socket read, not the call: a gateway dribbling its body a
        byte at a time held a call for as long as it dribbled. So the body is read a chunk at a time and abandoned
        once the timeout has passed. A read under way still runs out its own timeout, so a call whose headers arrive
        in time ends within about twice HAIER_TIMEOUT. A redirect is answered to the caller, never followed (see
        NoRedirectSession)."""
        response = self._http().post_json(url, body, headers or {}, self.timeout)
        try:
            read_body(response, started + self.timeout, self.timeout)
        except BaseException:
            response.close()  # mid-body: the connection is closed, never handed to another request
            raise
        return response

    def _scheme(self) -> str:
        """The Authorization scheme: HAIER_AUTH_SCHEME's, else the one detected (bare until told otherwise)."""
        return self.auth_scheme.lower() if self.auth_scheme else self.discovery.scheme

    @staticmethod
    def _authorization(token: str, scheme: str) -> str:
        return f"Bearer {token}" if scheme == "bearer" else token

    def _hold_off(self, response: requests.Response, attempt: int) -> None:
        """Back off before a retry; a 429 makes every thread of every process on the account hold off."""
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if response.status_code == 429:
            self._pacer().defer(retry_after if retry_after is not None else 1.0)
        self._sleep_backoff(attempt, retry_after)

    def _sleep_backoff(self, attempt: int, retry_after: float | None = None) -> None:
        if retry_after is not None:
            time.sleep(retry_after + random.uniform(0, 0.1))
            return
        time.sleep(self._backoff_delay(attempt) * random.uniform(0.5, 1.5))

    def _backoff_delay(self, attempt: int) -> float:
        return min(8.0, self.backoff_seconds * 2 ** (attempt - 1))

    @staticmethod
    def _excerpt(response: requests.Response) -> str:
        text = " ".join(response.text.split())
        return excerpt(text, 200) or "(empty body)"

    # ---- concurrency --------------------------------------------------------------------------------

    def fan_out(
        self, call: Callable[[T], R], items: Sequence[T], subject: Callable[[T], Hashable] | None = None
    ) -> list[Outcome[T, R]]:
        """Every item's Outcome, in the items' order (see `stream`)."""
        outcomes: list[Outcome[T, R]] = [Outcome(item) for item in items]
        for index, outcome in self._fan_out().run(as_fan_out_item(call), items, None, None, subject):
            outcomes[index] = outcome
        return outcomes

    def stream(
        self,
        call: Callable[[T], R],
        items: Iterable[T],
        progress: Callable[[int, int], None] | None = None,
        stop: Callable[[], bool] | None = None,
        subject: Callable[[T], Hashable] | None = None,
    ) -> Iterator[Outcome[T, R]]:
        """Run `call` for the items on the senders and yield each Outcome once it is final, in completion order.

        At most STREAM_QUEUE items beyond those being sent are in flight, so memory stays bounded however many
        items there are, and the caller can write answers while the senders go on calling. `stop` is asked before
        each new item: once it says True (a call budget, a deadline) no more items are started and the rest are not
        yielded.

        Items that went unanswered (transient errors) get one more pass once the first is over and the
        storm has passed (after any 429 hold-off and `second_pass_pause`). A refusal of one item stays
        that item's error. Raised instead, stopping every pending item: HaierUnavailableError (the
        breaker), HaierAuthenticationError, a HaierBusinessError refusing the account (or the same refusal, and
        nothing else, on the first answers for ACCOUNT_REFUSAL_STREAK different subjects: `subject` says what an
        item's refusal is about, each item its own by default), and anything unexpected (a bug)."""
        for _, outcome in self._fan_out().run(as_fan_out_item(call), items, progress, stop, subject):
            yield outcome

    def _fan_out(self) -> FanOut:
        latency, rate, most = self._state.latency, self.rate_limit, self.max_workers  # asked at every item
        return FanOut(
            lambda: senders_for(rate, latency.seconds, most),
            self._record_senders,
            self.second_pass_pause,
        )

    # ---- endpoints ----------------------------------------------------------------------------------

    def body(self, request: Request, item: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The request's body for this account: its fixed values, the account's fields under this endpoint's names,
        and the item's values (one left out when None)."""
        body = {
            key: self.resolved(value) if isinstance(value, AccountField) else value
            for key, value in request.body.items()
        }
        for key, column in request.item.items():
            if (value := (item or {}).get(column)) is not None:
                body[key] = value
        return body

    def fetch(
        self,
        endpoint: str,
        request: Request,
        item: Mapping[str, Any] | None = None,
        batch: Sequence[Any] | None = None,
    ) -> Any:
        """One call of a declared request (a batch's values under its key); the unwrapped payload."""
        body = self.body(request, item)
        if batch is not None and request.batch is not None:
            if not 1 <= len(batch) <= request.batch.size:
                raise ValueError(f"a {endpoint} call takes 1 to {request.batch.size} codes, got {len(batch)}")
            body[request.batch.key] = list(batch)
        elif request.everything is not None:
            return self._everything(endpoint, request, body)
        return self._post(endpoint, request.path, body)

    def products(self, codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The account's whole listing (no codes), procurable or not (each row's isSales says), or those codes, 20 a
        call."""
        request = PRODUCTS.call
        if codes is None:
            return as_rows(self.fetch("products", request), "products")

        def batch_rows(batch: list[str]) -> list[dict[str, Any]]:
            return as_rows(self._post("products", request.path, {**self.body(request), "productCodes": batch}))

        # Codes are asked as many at a time as the prices endpoint takes: the vendor documents one limit for both.
        batch = PRICES.call.batch
        assert batch is not None, "prices declares its batch"
        rows: list[dict[str, Any]] = []
        for outcome in self.fan_out(batch_rows, batches(list(codes), batch.size)):
            if outcome.error is not None:
                raise outcome.error
            rows.extend(outcome.value or [])
        return rows

    def _everything(self, endpoint: str, request: Request, base: dict[str, Any]) -> Any:
        """Everything (the whole listing), asked the way the gateway accepts: without the request's `everything` key
        (haier-api.md §1), or, when that is refused as a bad request, with it empty (§1 also marks the key required).
        The form that worked is kept for the process (haier.discovery)."""
        assert request.everything is not None
        forms = {LISTING_OMITTED: base, LISTING_EMPTY_LIST: {**base, request.everything: []}}
        discovery = self.discovery
        if discovery.listing_form is not None:
            return self._post(endpoint, request.path, forms[discovery.listing_form])
        try:
            payload = self._post(endpoint, request.path, base)
        except (HaierRequestError, HaierBusinessError) as refusal:
            if not _bad_request(refusal):
                raise
            log.warning(
                "the listing without %s was refused (%s); asking with [] instead", request.everything, _reason(refusal)
            )
            try:
                payload = self._post(endpoint, request.path, forms[LISTING_EMPTY_LIST])
            except (HaierRequestError, HaierBusinessError) as second:
                if not _bad_request(second):
                    raise
                raise HaierRequestError(
                    endpoint,
                    400,
                    f"the listing was refused as a bad request both without {request.everything} ({_reason(refusal)}) "
                    f"and with {request.everything}: [] ({_reason(second)})",
                    "Check HAIER_CUSTOMER_CODE, HAIER_SEND_TO_CODE and HAIER_SUPPLIER_CODE; send this answer "
                    "(`haier-pipeline check --record DIR`) to Haier's support",
                    transient=False,
                ) from None
            discovery.listing_form = LISTING_EMPTY_LIST
            return payload
        discovery.listing_form = LISTING_OMITTED
        return payload

    def price_batch(self, codes: Sequence[str]) -> list[dict[str, Any]]:
        return as_rows(self.fetch("prices", PRICES.call, batch=codes), "prices")

    def prices(self, codes: Sequence[str]) -> list[Outcome[list[str], list[dict[str, Any]]]]:
        """Prices for any number of codes (see `batched`)."""
        return self.batched("prices", PRICES.call, codes)

    def batched(
        self, endpoint: str, request: Request, values: Sequence[Any]
    ) -> list[Outcome[list[Any], list[dict[str, Any]]]]:
        """Rows for any number of values of a batched request, its batches fanned out over the pool. A batch the
        vendor refused, or that stayed unanswered while others were answered, is asked again a value at a time: one
        product it refuses (discontinued) or cannot answer (a 503 for every call naming it) must not cost 19 others
        their price."""
        assert request.batch is not None, f"{endpoint}: the request declares no batch"

        def batch_rows(batch: list[Any]) -> list[dict[str, Any]]:
            return as_rows(self.fetch(endpoint, request, batch=batch), endpoint)

        batches_ = self.fan_out(batch_rows, batches(list(dict.fromkeys(values)), request.batch.size))
        # One product the API cannot answer, not an outage: split into single calls (each with its retries), an
        # outage would cost twenty times its calls.
        unanswered = sum(outcome.unanswered for outcome in batches_)
        few_unanswered = unanswered <= max(1, len(batches_) // 4) < len(batches_)

        def split(outcome: Outcome[list[str], list[dict[str, Any]]]) -> bool:
            return len(outcome.item) > 1 and (outcome.refused or (outcome.unanswered and few_unanswered))

        failed = [outcome for outcome in batches_ if split(outcome)]
        if not failed:
            return batches_
        batch_of = {code: number for number, outcome in enumerate(failed) for code in outcome.item}
        log.info("%d %s batches failed; asking their %d values one at a time", len(failed), endpoint, len(batch_of))
        # A refusal is about the batch the value came from: the first values of one batch refused alike are not the
        # account (a streak needs ACCOUNT_REFUSAL_STREAK batches).
        singles = self.fan_out(batch_rows, [[value] for value in batch_of], subject=lambda single: batch_of[single[0]])
        return [outcome for outcome in batches_ if not split(outcome)] + singles

    def stock(self, product_code: str, county_code: str) -> list[dict[str, Any]]:
        """Warehouse rows able to serve one county with one product; empty means none can."""
        item = {"product_code": product_code, "county_code": county_code}
        return as_rows(self.fetch("stock", STOCK.call, item), "stock")

    def stream_stock(
        self,
        pairs: Iterable[tuple[str, str]],
        progress: Callable[[int, int], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Outcome[tuple[str, str], list[dict[str, Any]]]]:
        """Each (product, county) pair's warehouse rows as they arrive (see `stream`)."""
        return self.stream(lambda pair: self.stock(*pair), pairs, progress, stop, subject=product_of)

    def logistics(
        self, order_code: str, delivery_record_code: str | None = None, member_id: int | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """The order's records from the three logistics lists, keyed by the list's name (and any other list of
        records under its own name: see `named_lists`)."""
        item = {"order_code": order_code, "delivery_record_code": delivery_record_code, "member_id": member_id}
        answer = named_lists("logistics", self.fetch("logistics", LOGISTICS.call, item), LOGISTICS.call.lists)
        if answer.unknown_keys:
            log.warning(
                "logistics: the answer for %s carries keys the vendor's document does not name: %s",
                order_code,
                ", ".join(answer.unknown_keys),
            )
        return answer

    def balance(self) -> list[dict[str, Any]]:
        return as_rows(self.fetch("balance", BALANCE.call), "balance")


def batches(codes: list[str], size: int) -> list[list[str]]:
    """Split any number of codes into calls of at most `size`; nothing is ever truncated."""
    return [codes[start : start + size] for start in range(0, len(codes), size)]


class NamedLists(dict[str, list[dict[str, Any]]]):
    """An answer's records by list name: the lists the document names, then any other list of records under its own
    name. `unknown_keys` (key -> an example of its value) are the keys the document does not name, counted as drift
    the way other endpoints count unknown keys of their rows."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]], unknown_keys: dict[str, str]) -> None:
        super().__init__(lists)
        self.unknown_keys = unknown_keys


def named_lists(endpoint: str, payload: Any, lists: Sequence[str]) -> NamedLists:
    """The named lists of an answer (the three of a logistics answer), their names matched in any case. A key the
    document does not name keeps the answer (issue 25: it made the whole answer unusable): it is drift, counted, and a
    list of records under it is kept under its own name, since it may be one of the lists renamed; read as absent, its
    records would be deleted from the warehouse by an answer that never mentioned them."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise HaierAnswerShapeError(
            endpoint, f"expected an object with the lists {', '.join(lists)}, got {type(payload).__name__}"
        )
    by_name = {name.lower(): name for name in lists}
    found: dict[str, Any] = {}
    others: dict[str, list[dict[str, Any]]] = {}
    unknown: dict[str, str] = {}
    for key, value in payload.items():
        name = by_name.get(str(key).lower())
        if name is not None:
            found[name] = value
            continue
        shown = excerpt(str(key), 60)
        unknown[shown] = excerpt(" ".join(str(value).split()), 100)
        if isinstance(value, list) and value and all(isinstance(record, dict) for record in value):
            others[shown] = value
    named = {name: as_rows(found.get(name), endpoint) for name in lists}
    return NamedLists({**named, **others}, unknown)


def _bad_request(error: HaierError) -> bool:
    """A refusal of the request's form: HTTP 400, a 400 in the body, or a refusal naming productCodes."""
    if isinstance(error, HaierAnswerShapeError):
        return False
    if isinstance(error, HaierRequestError):
        return error.status == 400
    assert isinstance(error, HaierBusinessError)
    return str(error.code).strip() == "400" or "productcodes" in error.reason.lower()


def _reason(error: HaierError) -> str:
    if isinstance(error, HaierBusinessError):
        return f"code {error.code}: {error.reason}"
    if isinstance(error, HaierRequestError):
        return error.detail
    return str(error)


def product_of(pair: tuple[str, str]) -> str:
    """What a stock pair's refusal is about: its product (refused in every county when discontinued)."""
    return pair[0]
