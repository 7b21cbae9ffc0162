"""OAuth2 client-credentials token: one per process and account, refreshed per token, not per request.

A 401 says which token was refused. If that token was already replaced, the request simply retries with
the current one. If it is the current token, exactly one thread fetches a new one while the others wait.
Two guards keep a broken gateway from looping:
- Bad credentials: a token refused *immediately* (by a request sent within IMMEDIATE_REFUSAL_SECONDS of
  its issue, before any request was accepted with it) is a strike; BAD_CREDENTIAL_STRIKES strikes in a
  row, with no accepted request between them, mean the gateway will never take our tokens (wrong auth
  scheme, a token URL of another environment): HaierAuthenticationError at once. Two, not one, because
  a gateway revoking tokens on a timer can revoke a fresh one before its first use by bad luck.
- At most MAX_REFRESHES_PER_MINUTE refreshes after a refusal, per account and process: past it, the
  gateway revokes tokens faster than every 2 s on average, which no working gateway does, and the step
  stops with a HaierAuthenticationError instead of looping. (30 token calls a minute cost nothing
  against a budget of 100 calls a second; a churn of one revocation every 0.5 s is survived for 15 s.)

Ahead of expiry (the vendor's 10 minutes) one thread refreshes while the others go on with the current token. A
refresh that fails (no answer, server trouble, a refusal) keeps the current token in use while it is valid and is
tried again REFRESH_RETRY_SECONDS later: a network blip at the hourly refresh must not stop a long stock step the
token still serves. Past the token's expiry a failed fetch fails the call, as a first fetch does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haier_pipeline.errors import HaierAuthenticationError, HaierError
from haier_pipeline.redaction import excerpt, redact, redacting_logger, register_secret

log = redacting_logger("haier_pipeline.haier")

DEFAULT_LIFETIME = 3600.0
MAX_LIFETIME = 86_400.0
# The vendor asks for a refresh 10 minutes before expiry; short-lived tokens refresh at 5/6 of their life.
REFRESH_MARGIN = 600.0
# Longer than a tripped token breaker stays open (breaker.BREAKER_SECONDS), so the retry is a real call.
REFRESH_RETRY_SECONDS = 30.0
# A token this close to its expiry may be dead on arrival: a failed refresh then fails the call.
MIN_VALIDITY_SECONDS = 1.0
TOKEN_KEYS = (("access_token",), ("token",), ("data", "access_token"), ("data", "token"))
REASON_KEYS = ("msg", "message", "description", "error_description", "error")
IMMEDIATE_REFUSAL_SECONDS = 10.0
BAD_CREDENTIAL_STRIKES = 2
MAX_REFRESHES_PER_MINUTE = 30
CREDENTIAL_HINT = (
    "Check HAIER_AUTH_SCHEME (bare or bearer), that HAIER_TOKEN_URL belongs to the same environment as "
    "HAIER_BASE_URL, and HAIER_CLIENT_ID / HAIER_CLIENT_SECRET. If only this endpoint refuses tokens, the client id "
    "may lack permission for it: `haier-pipeline check` calls every endpoint."
)


@dataclass(frozen=True)
class TokenGrant:
    token: str
    lifetime: float
    # Where the token answer kept the token ("access_token", "data.token"...) and where its lifetime came from
    # ("expires_in", "data.expires_in", "the JWT's exp", "default 3600 s"): `check` reports them.
    shape: str = ""
    expires_from: str = ""


def parse_token_answer(answer: Any) -> TokenGrant:
    """Accept the four token shapes; `expires_in` top-level, under `data`, or from the JWT's `exp`."""
    if not isinstance(answer, dict):
        raise HaierAuthenticationError("The token endpoint answered 200 without a JSON object.")
    path = next((path for path in TOKEN_KEYS if isinstance(_dig(answer, path), str) and _dig(answer, path)), None)
    token = _dig(answer, path) if path is not None else None
    if not token:
        raise HaierAuthenticationError(
            "The token endpoint answered 200 without a token (no access_token/token, top-level or under "
            f"data){_vendor_reason(answer)}. Check HAIER_TOKEN_URL and the client credentials."
        )
    if not (token.isascii() and token.isprintable()) or " " in token:
        raise HaierAuthenticationError(
            "The token endpoint answered a token that cannot travel in an HTTP header. Check HAIER_TOKEN_URL."
        )
    register_secret(token)
    expires_in, expires_from = answer.get("expires_in"), "expires_in"
    if expires_in is None and isinstance(answer.get("data"), dict):
        expires_in, expires_from = answer["data"].get("expires_in"), "data.expires_in"
    lifetime = _as_seconds(expires_in)
    if lifetime is None:
        lifetime, expires_from = _jwt_lifetime(token), "the JWT's exp"
    if lifetime is None:
        lifetime, expires_from = DEFAULT_LIFETIME, f"default {DEFAULT_LIFETIME:.0f} s"
    return TokenGrant(token=token, lifetime=lifetime, shape=".".join(path or ()), expires_from=expires_from)


def _vendor_reason(answer: dict[str, Any]) -> str:
    """The vendor's own words for a token answer without a token, redacted and short."""
    for place in (answer, answer.get("data")):
        if isinstance(place, dict):
            for key in REASON_KEYS:
                value = place.get(key)
                if isinstance(value, str) and value.strip():
                    return "; the vendor says: " + excerpt(value.strip(), 200)
    return ""


def _dig(answer: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = answer
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _as_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(seconds, MAX_LIFETIME) if seconds > 0 else None


def _jwt_lifetime(token: str) -> float | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        return _as_seconds(float(claims["exp"]) - time.time())
    except (ValueError, KeyError, TypeError, IndexError, OverflowError):
        return None


class TokenCache:
    """One token shared by all threads; one thread fetches, the others wait and use what it fetched."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at = 0.0
        self._issued_at = 0.0
        self._accepted = False
        self._strikes = 0
        self._refreshes: deque[float] = deque()
        self.fetches = 0

    def get(self, fetch: Callable[[], TokenGrant]) -> str:
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        if token is not None and self._clock() < self._expires_at:
            # Ahead of expiry one thread refreshes; the others go on with the current token instead of waiting.
            if not self._lock.acquire(blocking=False):
                return token
        else:
            self._lock.acquire()
        try:
            if self._token is None or self._clock() >= self._refresh_at:
                try:
                    self._store(fetch())
                except HaierError as error:
                    self._keep_current_token(error)
            assert self._token is not None
            return self._token
        finally:
            self._lock.release()

    def _keep_current_token(self, error: HaierError) -> None:
        """After a failed refresh: keep the current token while it is valid and try again later, else re-raise."""
        now = self._clock()
        left = self._expires_at - now
        if self._token is None or left < MIN_VALIDITY_SECONDS:
            raise error
        retry_in = min(REFRESH_RETRY_SECONDS, left / 2)
        self._refresh_at = now + retry_in
        log.warning(
            "token refresh failed (%s); the current token is valid %.0f s more and stays in use; next try in %.0f s",
            error,
            left,
            retry_in,
        )

    def is_current(self, token: str) -> bool:
        return token == self._token

    def unproven(self, token: str) -> bool:
        """Whether `token` is the current token and no request was answered with it yet (its first use)."""
        return token == self._token and not self._accepted

    def accepted(self, token: str) -> None:
        """A request with `token` was answered without a 401: the gateway takes our tokens."""
        if self._strikes or (token == self._token and not self._accepted):
            with self._lock:
                self._strikes = 0
                if token == self._token:
                    self._accepted = True

    def refused(self, token: str, sent_at: float, fetch: Callable[[], TokenGrant]) -> str:
        """A 401 on `token`, sent at `sent_at` (this cache's clock); returns the token to retry with."""
        with self._lock:
            if self._token is not None and token != self._token:
                return self._token  # another thread already replaced it: no fetch
            now = self._clock()
            if not self._accepted and sent_at - self._issued_at <= IMMEDIATE_REFUSAL_SECONDS:
                self._strikes += 1
                if self._strikes >= BAD_CREDENTIAL_STRIKES:
                    self._token = None  # the next caller starts from a fresh token
                    raise HaierAuthenticationError(
                        f"The API refused {self._strikes} fresh tokens in a row on their first use: the token "
                        f"endpoint issues tokens the data gateway does not accept. {CREDENTIAL_HINT}"
                    )
            while self._refreshes and self._refreshes[0] <= now - 60.0:
                self._refreshes.popleft()
            if len(self._refreshes) >= MAX_REFRESHES_PER_MINUTE:
                self._token = None
                raise HaierAuthenticationError(
                    f"The API refused {len(self._refreshes)} tokens within a minute: it revokes tokens as fast "
                    "as it issues them, so the step stops instead of looping. Try again later; if it persists, "
                    + CREDENTIAL_HINT
                )
            self._refreshes.append(now)
            grant = fetch()
            self._store(grant)
            return grant.token

    def _store(self, grant: TokenGrant) -> None:
        margin = min(REFRESH_MARGIN, grant.lifetime / 6)
        self._token = grant.token
        self._issued_at = self._clock()
        self._refresh_at = self._issued_at + grant.lifetime - margin
        self._expires_at = self._issued_at + grant.lifetime
        self._accepted = False
        self.fetches += 1


# (token URL, client id, the secret's SHA-256): one cache per credentials.
TokenKey = tuple[str, str, str]
_caches: dict[TokenKey, TokenCache] = {}
_registry_lock = threading.Lock()


def token_cache_key(token_url: str, client_id: str, client_secret: str) -> TokenKey:
    """One cache per credentials: a client with another secret must never borrow a token it could not get."""
    return token_url, client_id, hashlib.sha256(client_secret.encode()).hexdigest()


def token_cache(key: TokenKey) -> TokenCache:
    """The credentials' cache, without the registry's lock once it exists: every call asks."""
    cache = _caches.get(key)
    if cache is None:
        with _registry_lock:
            cache = _caches.setdefault(key, TokenCache())
    return cache


def forget_cached_tokens() -> None:
    """Drop every token the process holds, e.g. when a gateway on the same address is not the one that issued them
    (a test's simulator on a port an earlier one used, which would send calls with a token it never issued)."""
    with _registry_lock:
        _caches.clear()


def fallback_token_url(token_url: str) -> str | None:
    """Some gateways refuse `/oauth2/auth` and serve tokens at `/oauth2/token` on the same host."""
    if token_url.rstrip("/").endswith("/oauth2/auth"):
        return token_url.rstrip("/")[: -len("/auth")] + "/token"
    return None


def describe_token_failure(url: str, status: int, body: str) -> str:
    return redact(f"{url} answered HTTP {status}: ") + excerpt(body, 200)
