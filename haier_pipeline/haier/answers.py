"""Reading an HTTP answer of the gateway: its whole body within the call's deadline, its declared charset, its JSON
(lone surrogates mended, integers of any length), where a redirect points and how long Retry-After asks to wait.
Knows HTTP, nothing of endpoints, tokens or retries: the client decides what each reading means."""

from __future__ import annotations

import codecs
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError

# An answer's body is read this much at a time at most: the deadline is checked between reads.
BODY_CHUNK = 64 * 1024

# Where a lone UTF-16 surrogate can come from: a \uD800-\uDFFF escape, or one encoded as UTF-8 bytes (CESU-8, which
# json.loads lets through). Only a body matching this is walked, so the usual answer costs one byte search.
SURROGATE_IN_BODY = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
SURROGATE = re.compile("[\ud800-\udfff]")
CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def read_body(response: requests.Response, deadline: float, timeout: float) -> None:
    """Read a streamed response's body into it (`.content`, `.text` work as usual) unless `deadline` passes first.

    read1 returns what has arrived instead of waiting for a full chunk; it decodes gzip and deflate as `.content`
    would (requests opens the stream undecoded). urllib3's errors become requests exceptions, a read that timed out a
    ReadTimeout, so a body cut short, garbled in its encoding or too slow is a call without an answer."""
    chunks: list[bytes] = []
    # Without a content encoding nothing is left to decode once Content-Length bytes arrived: no read for the end.
    plain = not response.headers.get("Content-Encoding")
    try:
        while chunk := response.raw.read1(BODY_CHUNK, decode_content=True):
            chunks.append(chunk)
            remaining = response.raw.length_remaining  # 0: all there, None: unknown
            if remaining == 0 and plain:
                break
            if time.monotonic() > deadline and remaining != 0:
                raise requests.exceptions.ReadTimeout(
                    f"the answer was still arriving after HAIER_TIMEOUT ({timeout:g} s)", request=response.request
                )
    except ReadTimeoutError as error:
        raise requests.exceptions.ReadTimeout(error, request=response.request) from error
    except ProtocolError as error:
        raise requests.exceptions.ChunkedEncodingError(error, request=response.request) from error
    except DecodeError as error:
        raise requests.exceptions.ContentDecodingError(error, request=response.request) from error
    except Urllib3SSLError as error:
        raise requests.exceptions.SSLError(error, request=response.request) from error
    # With the body read, urllib3 has already handed the connection back to the pool.
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]  # requests' own flag, not in its stubs


@dataclass(frozen=True)
class Route:
    """What requests works out for a URL on every call, worked out once: the prepared URL, the session's headers
    merged, the adapter, and the proxies, CA bundle and client certificate the environment and session give it."""

    url: str
    headers: CaseInsensitiveDict[str]
    adapter: BaseAdapter
    proxies: MutableMapping[str, str]
    verify: bool | str
    cert: str | tuple[str, str] | None


class NoRedirectSession(requests.Session):
    """A session that never follows a redirect, whatever a call passes.

    Every request carries secrets in its body (client secret, passwords), and requests re-sends that body on a
    307/308 to wherever Location points: another host, plain http, past the https-only check of the configured
    URLs. With no redirect target requests also leaves a 3xx body to the caller instead of reading it itself."""

    def __init__(self) -> None:
        super().__init__()
        self._routes: dict[str, Route] = {}

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None

    def post_json(self, url: str, body: Any, headers: Mapping[str, str], timeout: float) -> requests.Response:
        """`post(url, json=body, headers=headers, timeout=timeout, stream=True, allow_redirects=False)`, for a
        fraction of its CPU: requests merges the session's settings and scans the environment for proxies on every
        call (two thirds of the Python time of a call to a fast gateway), where they are the same for every call to
        one URL. The session's cookies still travel and are kept; nothing is followed (no redirect is resolved)."""
        route = self._routes.get(url) or self._routes.setdefault(url, self._route(url))
        data = json.dumps(body, allow_nan=False).encode("utf-8")  # as requests encodes `json=`
        request = requests.PreparedRequest()
        request.method, request.url, request.body = "POST", route.url, data
        request.headers = route.headers.copy()
        request.headers.update(headers)
        request.headers["Content-Length"] = str(len(data))
        if self.cookies:
            request.prepare_cookies(self.cookies)
        response = route.adapter.send(
            request, stream=True, timeout=timeout, verify=route.verify, cert=route.cert, proxies=route.proxies
        )
        if "Set-Cookie" in response.headers:
            extract_cookies_to_jar(self.cookies, request, response.raw)
        return response

    def _route(self, url: str) -> Route:
        template = self.prepare_request(requests.Request("POST", url, headers={"Content-Type": "application/json"}))
        assert template.url is not None
        for per_call in ("Content-Length", "Cookie"):
            template.headers.pop(per_call, None)
        settings = self.merge_environment_settings(template.url, {}, True, None, None)
        adapter = self.get_adapter(template.url)
        verify = True if settings["verify"] is None else settings["verify"]
        return Route(template.url, template.headers, adapter, settings["proxies"], verify, settings["cert"])


def is_redirect(status: int) -> bool:
    return 300 <= status < 400


def redirect_origin(response: requests.Response) -> str:
    """scheme://host[:port] of where a 3xx points: never its path or query, which may carry anything."""
    location = response.headers.get("Location")
    if not location:
        return "nowhere (no Location header)"
    try:
        parts = urlsplit(urljoin(response.url, location.strip()))
        port = parts.port
    except ValueError:
        return "an unreadable Location"
    if not parts.hostname:
        return "an unreadable Location"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"


def parse_json(body: bytes, charset: str | None = None, **options: Any) -> Any:
    """json.loads, with every lone UTF-16 surrogate in a string or key replaced by U+FFFD.

    A Java service cutting an emoji in half sends "\\ud83d"; json.loads keeps it as a str that cannot be encoded to
    UTF-8, and the warehouse write of the whole step fails on it later. Raises RecursionError on a body nested
    deeper than json.loads goes, like json.loads; ValueError on a body that is not JSON in `charset` (None: UTF-8,
    16 or 32, as JSON is)."""
    text = body if charset is None else body.decode(charset)
    try:
        value = json.loads(text, **options)
    except ValueError:
        # Valid JSON with an integer longer than Python converts (4,300 digits) reads as a Decimal: the row's parse
        # refuses it as out of range, instead of the answer passing for garbled and retried in vain. Only a body that
        # failed once is read twice.
        value = json.loads(text, **{"parse_int": Decimal, **options})
    return mend_surrogates(value) if SURROGATE_IN_BODY.search(body) else value


def declared_charset(response: requests.Response) -> str | None:
    """The charset the answer declares when it is not a Unicode encoding JSON detects by itself (a Chinese gateway may
    send GBK and say so); None to let json.loads detect it. An unknown name is ignored."""
    match = CHARSET.search(response.headers.get("Content-Type") or "")
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1)).name
    except LookupError:
        return None
    return None if name.startswith(("utf-8", "utf-16", "utf-32")) else name


def mend_surrogates(value: Any) -> Any:
    """`value` with lone surrogates replaced, dicts and lists mended in place; iterative, as deep as json.loads goes."""
    if isinstance(value, str):
        return _mend_text(value)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if any(SURROGATE.search(key) for key in node):  # JSON keys are strings
                items = [(_mend_text(key), item) for key, item in node.items()]
                node.clear()
                node.update(items)
            entries: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            entries = enumerate(node)
        else:
            continue
        for place, item in entries:
            if isinstance(item, str):
                if SURROGATE.search(item):
                    node[place] = _mend_text(item)  # replacing a value, not adding a key: safe while iterating
            elif isinstance(item, dict | list):
                pending.append(item)
    return value


def _mend_text(text: str) -> str:
    # Through UTF-16, a pair split over two code points (CESU-8 bytes) joins into its character; a lone one is U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace") if SURROGATE.search(text) else text


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After in seconds (RFC 9110: a number of seconds or an HTTP date), at most a minute; None if unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - (now or datetime.now(UTC))).total_seconds()
        except (TypeError, ValueError):  # not a date, or one without a zone
            return None
    return None if math.isnan(seconds) else max(0.0, min(seconds, 60.0))
