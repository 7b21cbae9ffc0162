"""A first-contact record (`haier-pipeline check --record DIR`): the first answer of each endpoint as an HTTP transcript
(`token.http`, `products.http`, ...), and the first answer of each other HTTP status it gave (`products-400.http`,
`products-200.http`: how a first contact went, refusals and all), and what the client detected (`detected.json`), for
a dealer to send to Haier's support or to us.

Every secret is masked before anything is written: the values of secret-named JSON keys (the client secret, the
passwords, the token) by name, and every secret the client registered (haier.redaction: the client secret, the
passwords, each token, the password of a configured URL) wherever it appears."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import requests

from haier_pipeline.haier.answers import declared_charset
from haier_pipeline.redaction import MASK, redact

# JSON keys whose value is a secret in a request or an answer, whatever its length (redaction skips very short ones).
SECRET_KEYS = (
    "client_secret",
    "passWord",
    "password",
    "sellerPassword",
    "customerPassword",
    "access_token",
    "token",
    "refresh_token",
    "id_token",
)
SECRET_VALUE = re.compile(
    r'("(?:' + "|".join(map(re.escape, SECRET_KEYS)) + r')"\s*:\s*)"(?:[^"\\]|\\.)*"', flags=re.IGNORECASE
)
# Answer headers worth keeping: what the body is, and how long the gateway asked to wait.
KEPT_HEADERS = ("Content-Type", "Retry-After")


def masked(text: str) -> str:
    """`text` without a secret: secret-named JSON values and every registered secret."""
    return redact(SECRET_VALUE.sub(lambda match: f'{match.group(1)}"{MASK}"', text))


class FirstContactRecord:
    """Collects the first answer of each endpoint into `directory` (created if missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        self._names: set[str] = set()
        self._first_token_url: str | None = None
        self._lock = threading.Lock()

    def keep(self, endpoint: str, url: str, body: dict[str, Any], response: requests.Response) -> None:
        """HaierClient.recording's callback: writes the answer if it is its endpoint's first."""
        with self._lock:
            name = endpoint
            if endpoint == "token":
                self._first_token_url = self._first_token_url or url
                name = "token" if url == self._first_token_url else "token-fallback"
            status = f"{name}-{response.status_code}"
            if status in self._names:
                return
            self._names.add(status)
            if name in self._names:
                name = status
            self._names.add(name)
            path = self.directory / f"{name}.http"
            path.write_text(transcript(url, body, response), encoding="utf-8")
            self.written.append(path)

    def write_detected(self, detected: dict[str, Any]) -> Path:
        path = self.directory / "detected.json"
        # What the client detected holds no secret by construction; redacted all the same.
        text = json.dumps(detected, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        path.write_text(redact(text) + "\n", encoding="utf-8")
        with self._lock:
            self.written.append(path)
        return path


def transcript(url: str, body: dict[str, Any], response: requests.Response) -> str:
    """The request (its body, and the Authorization scheme without the token) and the answer, as text, masked."""
    authorization = response.request.headers.get("Authorization") if response.request is not None else None
    lines = [f"POST {url}", "Content-Type: application/json"]
    if authorization is not None:
        sent = str(authorization)
        # Basic: the user and password of a URL, which requests sends that way.
        scheme = next((word for word in ("Bearer", "Basic") if sent.startswith(f"{word} ")), "(the bare token)")
        lines.append(f"Authorization: {scheme} {MASK}")
    lines += ["", json.dumps(body, ensure_ascii=False, default=str), "", f"HTTP {response.status_code}"]
    lines += [f"{name}: {response.headers[name]}" for name in KEPT_HEADERS if name in response.headers]
    charset = declared_charset(response) or "utf-8"
    try:
        text = response.content.decode(charset, errors="replace")
    except LookupError:
        text = response.content.decode("utf-8", errors="replace")
    lines += ["", text]
    return masked("\n".join(lines)) + "\n"
