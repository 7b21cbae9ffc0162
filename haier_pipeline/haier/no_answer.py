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

# What a gateway restarting looks like: asked again in a moment, it may answer.
RESTARTING = frozenset({"refused", "hung up"})


def no_answer_cause(error: requests.RequestException) -> str:
    """`error`'s class name, with what it ran into when that is more than the name says."""
    name = type(error).__name__
    words = _ran_into(error)[1]
    return f"{name} ({words})" if words else name


def may_be_restarting(error: requests.RequestException) -> bool:
    """A server that refused the connection or hung up at once. A timeout, a host name that does not resolve or a TLS
    failure will not change in a moment."""
    return _ran_into(error)[0] in RESTARTING


def _ran_into(error: requests.RequestException) -> tuple[str, str]:
    """What a request without an answer ran into: a kind, and its words ("" when the class name says it all)."""
    if isinstance(error, requests.Timeout):
        return "timeout", ""
    host, text = _host(error), str(error).lower()
    chain = list(_causes(error))
    if any(isinstance(cause, NameResolutionError | socket.gaierror) for cause in chain):
        return "unresolved", f"the host name {host} does not resolve"
    if any(isinstance(cause, ConnectionRefusedError) for cause in chain):
        return "refused", f"{host} refused the connection: nothing listens on that port"
    if verify := next((cause for cause in chain if isinstance(cause, ssl.SSLCertVerificationError)), None):
        return "tls", f"{host}'s TLS certificate is not trusted: {verify.verify_message}"
    if isinstance(error, requests.exceptions.SSLError):
        if "wrong_version_number" in text or "wrong version number" in text:
            return "tls", f"{host} does not speak TLS: is the URL http://?"
        return "tls", f"the TLS handshake with {host} failed"
    if "remotedisconnected" in text or any(isinstance(c, ConnectionResetError | ConnectionAbortedError) for c in chain):
        return "hung up", f"{host} closed the connection without an answer"
    return "other", ""


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
