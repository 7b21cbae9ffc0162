"""OAuth2 client-credentials token: fetched once per process, refreshed early by exactly one thread."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haier_pipeline.haier.errors import HaierAuthenticationError
from haier_pipeline.haier.redaction import redact, register_secret

DEFAULT_LIFETIME = 3600.0
# The vendor asks for a refresh 10 minutes before expiry; short-lived tokens refresh at 5/6 of their life.
REFRESH_MARGIN = 600.0
TOKEN_KEYS = (("access_token",), ("token",), ("data", "access_token"), ("data", "token"))


@dataclass(frozen=True)
class TokenGrant:
    token: str
    lifetime: float


def parse_token_answer(answer: Any) -> TokenGrant:
    """Accept the four token shapes; `expires_in` top-level, under `data`, or from the JWT's `exp`."""
    if not isinstance(answer, dict):
        raise HaierAuthenticationError("The token endpoint answered 200 without a JSON object.")
    token = next((_dig(answer, path) for path in TOKEN_KEYS if isinstance(_dig(answer, path), str)), None)
    if not token:
        raise HaierAuthenticationError(
            "The token endpoint answered 200 without a token (no access_token/token, top-level or under "
            "data). Check HAIER_TOKEN_URL and the client credentials."
        )
    register_secret(token)
    expires_in = answer.get("expires_in")
    if expires_in is None and isinstance(answer.get("data"), dict):
        expires_in = answer["data"].get("expires_in")
    lifetime = _as_seconds(expires_in)
    if lifetime is None:
        lifetime = _jwt_lifetime(token)
    return TokenGrant(token=token, lifetime=lifetime if lifetime is not None else DEFAULT_LIFETIME)


def _dig(answer: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = answer
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _as_seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


def _jwt_lifetime(token: str) -> float | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        return _as_seconds(float(claims["exp"]) - time.time())
    except (ValueError, KeyError, TypeError):
        return None


class TokenCache:
    """One token shared by all threads; the first thread past the refresh point fetches, others wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetches = 0

    def get(self, fetch: Callable[[], TokenGrant]) -> str:
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._store(fetch())
            assert self._token is not None
            return self._token

    def refresh_after_rejection(self, rejected: str, fetch: Callable[[], TokenGrant]) -> str:
        """A 401 on `rejected`: fetch a new token unless another thread already replaced it."""
        with self._lock:
            if self._token == rejected or self._token is None:
                self._store(fetch())
            assert self._token is not None
            return self._token

    def _store(self, grant: TokenGrant) -> None:
        margin = min(REFRESH_MARGIN, grant.lifetime / 6)
        self._token = grant.token
        self._refresh_at = self._clock() + grant.lifetime - margin
        self.fetches += 1


_caches: dict[tuple[str, str, str], TokenCache] = {}
_registry_lock = threading.Lock()


def shared_token_cache(token_url: str, client_id: str, client_secret: str) -> TokenCache:
    """One cache per credentials: a client with another secret must never borrow a token it could not get."""
    fingerprint = hashlib.sha256(client_secret.encode()).hexdigest()
    with _registry_lock:
        return _caches.setdefault((token_url, client_id, fingerprint), TokenCache())


def fallback_token_url(token_url: str) -> str | None:
    """Some gateways refuse `/oauth2/auth` and serve tokens at `/oauth2/token` on the same host."""
    if token_url.rstrip("/").endswith("/oauth2/auth"):
        return token_url.rstrip("/")[: -len("/auth")] + "/token"
    return None


def describe_token_failure(url: str, status: int, body: str) -> str:
    return redact(f"{url} answered HTTP {status}: {body[:200]}")
