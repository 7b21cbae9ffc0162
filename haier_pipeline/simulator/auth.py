"""Server-side tokens: JWT-shaped, remembered with a death time the client cannot see."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenStore:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._alive: dict[str, tuple[float, float]] = {}  # token -> (issued, death), simulator clock

    def issue(self, client_id: str, advertised_expires_in: int, ttl: float, now: float) -> str:
        """A signed token whose `exp` says what the vendor promises; `ttl` after `now` is when it really dies.

        `now` is the simulator's clock (monotonic); the claims carry wall-clock time, as a real gateway's do.
        """
        issued = time.time()
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "sub": client_id,
            "iat": int(issued),
            "exp": int(issued) + int(advertised_expires_in),
            "jti": secrets.token_hex(8),
        }
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64url(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{header}.{payload}.{signature}"
        with self._lock:
            if len(self._alive) > 10_000:
                self._purge(now)
            self._alive[token] = (now, now + ttl)
        return token

    def is_valid(self, token: str, now: float) -> bool:
        with self._lock:
            issued_and_death = self._alive.get(token)
            if issued_and_death is None:
                return False
            if issued_and_death[1] <= now:
                del self._alive[token]
                return False
            return True

    def issued(self) -> list[str]:
        """Every live token (for tests: a record must not carry any of them)."""
        with self._lock:
            return list(self._alive)

    def revoke_all(self, issued_before: float | None = None) -> None:
        """Every live token, or those issued before `issued_before` (simulator clock)."""
        with self._lock:
            if issued_before is None:
                self._alive.clear()
                return
            for token in [t for t, (issued, _) in self._alive.items() if issued < issued_before]:
                del self._alive[token]

    def _purge(self, now: float) -> None:
        for token in [t for t, (_, death) in self._alive.items() if death <= now]:
            del self._alive[token]


def token_from_header(value: str | None, accepted: str = "any") -> str | None:
    """The token from an Authorization header, sent bare or as `Bearer <token>`; None when absent or sent in a form
    the gateway does not accept (`accepted`: "any", "bare" or "bearer")."""
    if not value:
        return None
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    bearer = bool(rest) and scheme.lower() == "bearer"
    if (accepted == "bare" and bearer) or (accepted == "bearer" and not bearer):
        return None
    if bearer:
        value = rest.strip()
    return value or None


def token_answer(token: str, expires_in: int, shape: str, expires_in_at: str) -> dict[str, Any]:
    """The token response body in one of the shapes gateways are known to use."""
    body: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if shape.startswith("data."):
        body.update({"code": 200, "msg": "ok"})
        data[shape.removeprefix("data.")] = token
        data["token_type"] = "bearer"
    else:
        body[shape] = token
        body["token_type"] = "bearer"
    if expires_in_at == "top":
        body["expires_in"] = expires_in
    elif expires_in_at == "data":
        data["expires_in"] = expires_in
    if data:
        body["data"] = data
    return body


def decode_claims(token: str) -> dict[str, Any]:
    """The JWT payload (no signature check): for tests and debugging."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
