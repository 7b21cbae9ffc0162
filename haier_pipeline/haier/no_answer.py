"""Why a request got no answer, in words an operator can act on. The class name alone (`ConnectionError`) does not
tell a host name that does not resolve from a port nothing listens on, or a TLS mismatch; the library's own message
is a paragraph of connection-pool internals. Timeouts keep their name: `ReadTimeout` says it all."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError


def no_answer_cause(error: requests.RequestException) -> str:
    """`error`'s class name, with what it ran into when that is more than the name says."""
    name = type(error).__name__
    if isinstance(error, requests.Timeout):
        return name
    host, text = _host(error), str(error).lower()
    chain = list(_causes(error))
    if any(isinstance(cause, NameResolutionError | socket.gaierror) for cause in chain):
        return f"{name} (the host name {host} does not resolve)"
    if any(isinstance(cause, ConnectionRefusedError) for cause in chain):
        return f"{name} ({host} refused the connection: nothing listens on that port)"
    if verify := next((cause for cause in chain if isinstance(cause, ssl.SSLCertVerificationError)), None):
        return f"{name} ({host}'s TLS certificate is not trusted: {verify.verify_message})"
    if isinstance(error, requests.exceptions.SSLError):
        if "wrong_version_number" in text or "wrong version number" in text:
            return f"{name} ({host} does not speak TLS: is the URL http://?)"
        return f"{name} (the TLS handshake with {host} failed)"
    if "remotedisconnected" in text or any(isinstance(c, ConnectionResetError | ConnectionAbortedError) for c in chain):
        return f"{name} ({host} closed the connection without an answer)"
    return name


def may_be_restarting(error: requests.RequestException) -> bool:
    """A server that refused the connection or hung up at once: a gateway restarting looks like this, so asking again
    in a moment may be answered. A timeout, a name that does not resolve or a TLS failure will not change so soon."""
    if isinstance(error, requests.Timeout | requests.exceptions.SSLError):
        return False
    chain = list(_causes(error))
    if any(isinstance(cause, NameResolutionError | socket.gaierror) for cause in chain):
        return False
    return "remotedisconnected" in str(error).lower() or any(
        isinstance(cause, ConnectionRefusedError | ConnectionResetError | ConnectionAbortedError) for cause in chain
    )


def _host(error: requests.RequestException) -> str:
    """host:port of the request, never its path, query or credentials."""
    url = error.request.url if error.request is not None and error.request.url else ""
    parts = urlsplit(str(url))
    if not parts.hostname:
        return "the server"
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _causes(error: BaseException) -> Iterator[BaseException]:
    """Every exception `error` wraps: urllib3 nests them in args, `reason`, `__cause__` and `__context__`."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        pending += [item for item in nested if isinstance(item, BaseException)]
