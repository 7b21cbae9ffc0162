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


def insecure_http_problems(base_url: str | None, token_url: str | None, allow_insecure_http: bool) -> list[str]:
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


# What people type for the scheme of an http(s) URL besides `https://`: a typo, a slash short, capitals.
_SCHEME_TYPOS = re.compile(r"(?i)\A(h+t+p+s?|htps|htpps|hhtps|hhtp|ttps?|ttp)(:/{0,3}|//)(?=[^/])")


def http_url_problem(value: str, *, base: bool = True) -> tuple[str, str | None]:
    """(the URL as the client uses it, None) when `value` is an http(s) URL, else (value, what is wrong with it and
    how to write it). URL schemes and host names are case-insensitive (RFC 3986), so `HTTPS://Openplat.Haier.NET` is
    that host over https; every other mistake gets its own words. `base`: a base URL, to which the client appends
    each endpoint's path, so it takes no query or fragment."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return value, f"quoted: remove the quotes ({text[1:-1]})"
    if any(character.isspace() for character in text):
        return value, "a blank inside: a URL has none (percent-encode one in a path as %20)"
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"(?i)https?", scheme):
        if typo := _SCHEME_TYPOS.match(text):
            written = "https" if "s" in typo.group(1).lower() else "http"
            fixed = f"{written}://{text[typo.end() :]}"
            return value, f"not an http(s) URL as written: did you mean {fixed}?"
        if not sep and (bare := re.match(r"(?i)\A([a-z0-9-]+(?:\.[a-z0-9-]+)+|localhost)(:\d+)?(/|\Z)", text)):
            written = "http" if is_loopback_host(bare.group(1)) else "https"
            return value, f"no scheme: write {written}://{text}"
        shown = f"{scheme!r}" if sep else "none"
        return value, f"not an http(s) URL (scheme {shown}): write https://host[:port][/path]"
    if rest.startswith("/"):
        return value, f"a slash too many after {scheme}: write {scheme.lower()}://{rest.lstrip('/')}"
    try:
        parts = urlsplit(f"{scheme.lower()}://{rest}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return value, "the port is not a number from 1 to 65535: write https://host:port"
    if not parts.hostname:
        return value, "no host: write https://host[:port][/path]"
    if "#" in rest or (base and parts.query):
        return value, "a query (?...) or fragment (#...): a base URL takes none, each endpoint's path is appended to it"
    # Scheme and host lower-cased (case-insensitive); the path kept as written (servers may tell its case apart).
    netloc = parts.netloc.rpartition("@")
    host = netloc[2].lower()
    normal = f"{parts.scheme}://{netloc[0]}{netloc[1]}{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return normal.rstrip("/"), None


def mask_webhook_url(url: str | None) -> str:
    """The webhook URL as a person may see it: scheme and host only. The path of a Slack or Feishu hook, and the
    access_token of a DingTalk one, are the secret that lets anyone post."""
    if not url:
        return "(not set)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    return f"{parts.scheme}://{host}{port}/***"
