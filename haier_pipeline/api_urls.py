"""The vendor requires HTTPS: the client secret and passwords must never cross a network in clear text.

`insecure_http_problems` is the one rule, shared by the client (checked before any secret is sent) and
the configuration model (checked when the configuration is read).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit

ALLOW_VARIABLE = "HAIER_ALLOW_INSECURE_HTTP"
# A query parameter whose name says it holds a secret (the names warehouse.url.mask_url masks too).
SECRET_PARAMETER_NAME = re.compile(r"(?i)password|passwd|pwd|secret|token|key")


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_http_problems(base_url: str, token_url: str | None, allow_insecure_http: bool) -> list[str]:
    """One problem per URL that would carry secrets unencrypted; empty when both are acceptable.

    https is always accepted; plain http only to a loopback host, or anywhere when explicitly allowed."""
    problems = []
    for variable, url in (("HAIER_BASE_URL", base_url), ("HAIER_TOKEN_URL", token_url)):
        if not url:
            continue
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            problems.append(f"{variable} is not a URL")
            continue
        scheme = parts.scheme.lower()
        shown = f"{scheme}://{parts.hostname or ''}" + (f":{parts.port}" if _port(parts) else "")
        if scheme == "https":
            continue
        if scheme != "http":
            problems.append(f"{variable}={shown!r} must start with https://")
        elif not (allow_insecure_http or is_loopback_host(parts.hostname or "")):
            problems.append(
                f"{variable}={shown!r} uses plain http to a host that is not loopback: the client secret and "
                f"passwords would cross the network unencrypted. Use https://, or set {ALLOW_VARIABLE}=1 "
                "if this network is trusted"
            )
    return problems


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:  # a port that is not a number: the URL is shown without it
        return None


def url_secrets(url: str | None) -> list[str]:
    """The secrets a configured URL carries: the userinfo password and the values of secret-named query parameters,
    as written and decoded. Registered for redaction, they are masked wherever the URL is shown (a log line saying
    where the token came from, an error naming the token URL)."""
    if not url:
        return []
    try:
        parts = urlsplit(url.strip())
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and SECRET_PARAMETER_NAME.search(name):
            found.append(value)
    return [form for secret in found for form in dict.fromkeys((secret, unquote(secret)))]
