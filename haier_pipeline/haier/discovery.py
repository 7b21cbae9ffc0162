"""What the client learned about one account's gateway (base URL and client id) in this process: the unknowns of the
vendor's document that a first contact settles (issue 25), remembered so each is settled once per process and shown
by `haier-pipeline check`.

- the listing's form: without `productCodes` (haier-api.md §1), or with `productCodes: []` when the gateway refuses
  the first as a bad request;
- the Authorization scheme, when HAIER_AUTH_SCHEME does not pin it: the bare token first (the last working production
  client sent it), the other one when a fresh token is refused at its first use (each token tries both), kept once a
  request is answered with it;
- the token answer's shape (where the token and its lifetime were);
- the envelopes seen per endpoint (style and code), and the codes read as success by meaning, each warned once;
- which endpoints accepted a token, and which refused tokens the others accepted: a 401 there is a missing
  permission, not a dead token, once another endpoint answers the very token the endpoint refused (the client asks
  one, the cheapest it has seen answer); before any endpoint has answered, another endpoint is asked the refused
  token under each scheme, once, so a first call to an endpoint the client may not use is not taken for a dead token.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haier_pipeline.redaction import redacting_logger

log = redacting_logger("haier_pipeline.haier")

SCHEMES = ("bare", "bearer")
LISTING_OMITTED = "without productCodes"
LISTING_EMPTY_LIST = "productCodes: []"
# Distinct tokens an endpoint may refuse, while other endpoints accept tokens, before its 401 is a missing permission:
# the first refusal may be a token revoked just then (the document's "refresh once"), the second is not.
PERMISSION_REFUSALS = 2


@dataclass
class Discovery:
    listing_form: str | None = None
    scheme: str = SCHEMES[0]
    scheme_confirmed: bool = False
    scheme_switched: bool = False
    token_shape: str | None = None
    expires_from: str | None = None
    token_served_by: str | None = None
    accepted: set[str] = field(default_factory=set)
    refused_tokens: dict[str, set[int]] = field(default_factory=dict)
    # A request each endpoint answered (path, body, size of the answer), to ask whether a token works elsewhere;
    # kept in memory only, never shown (its body carries a password).
    requests: dict[str, tuple[str, dict[str, Any], int]] = field(default_factory=dict, repr=False)
    probes: dict[tuple[str, str, int], Any] = field(default_factory=dict, repr=False)
    schemes_tried: dict[int, set[str]] = field(default_factory=dict, repr=False)
    _probe_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    envelopes: dict[str, Counter[str]] = field(default_factory=dict)
    codes_read_by_meaning: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---- the Authorization scheme -------------------------------------------------------------------

    def switch_scheme(self, sent_with: str, token: str) -> bool:
        """After a fresh token was refused at its first use under `sent_with`: whether to try again (True), because the
        scheme was switched to the other one now or by another thread already. Each token tries each scheme once: a
        token refused under both may have been revoked, and its successor tries both again."""
        with self._lock:
            if self.scheme != sent_with:
                return True  # another thread switched: the request goes again with the new scheme
            if self.scheme_confirmed:
                return False
            tried = self.schemes_tried.setdefault(hash(token), set())
            tried.add(sent_with)
            other = SCHEMES[1 - SCHEMES.index(sent_with)]
            if other in tried:
                return False
            self.scheme = other
            self.scheme_switched = True
        log.info("a fresh token was refused with the %s scheme: trying %s", sent_with, other)
        return True

    def scheme_found(self, scheme: str) -> None:
        """Another endpoint answered with `scheme`: it is the gateway's, whatever the refusing endpoint said."""
        with self._lock:
            if self.scheme_confirmed:
                return
            # Switched only when the default was refused by an endpoint that takes the token, not by the one refusing.
            self.scheme_switched = scheme != SCHEMES[0]
            self.scheme = scheme
        self.scheme_works(scheme)

    def scheme_works(self, scheme: str) -> None:
        if not self.scheme_confirmed and scheme == self.scheme:
            with self._lock:
                if not self.scheme_confirmed and scheme == self.scheme:
                    self.scheme_confirmed = True
                    if self.scheme_switched:
                        log.warning(
                            "the gateway accepts the token with the %s scheme, not the other: set HAIER_AUTH_SCHEME=%s "
                            "to pin it",
                            scheme,
                            scheme,
                        )

    # ---- endpoints and permissions ------------------------------------------------------------------

    def endpoint_accepted(self, endpoint: str, path: str, body: dict[str, Any], size: int) -> None:
        kept = self.requests.get(endpoint)
        if endpoint not in self.accepted or kept is None or size < kept[2]:
            with self._lock:
                self.accepted.add(endpoint)
                self.requests[endpoint] = (path, body, size)

    def lacks_permission(
        self, endpoint: str, token: str, works_elsewhere: Callable[[str, str, dict[str, Any]], bool]
    ) -> bool:
        """A 401 on `endpoint` for `token`: whether it is a missing permission. So it is when the endpoint never
        accepted a token, refused PERMISSION_REFUSALS different ones (the first may have been revoked just then: the
        document's refresh), and another endpoint answers this very token: `works_elsewhere(endpoint, path, body)`
        asks the one with the smallest answer, once per token."""
        with self._lock:
            if endpoint in self.accepted or not self.accepted - {endpoint}:
                return False
            refused = self.refused_tokens.setdefault(endpoint, set())
            refused.add(hash(token))
            if len(refused) < PERMISSION_REFUSALS:
                return False
            other = min(self.accepted - {endpoint}, key=lambda name: self.requests[name][2])
            path, body, _ = self.requests[other]
        return bool(self._asked_once(("elsewhere", endpoint, hash(token)), lambda: works_elsewhere(other, path, body)))

    def refused_at_first_contact(
        self, endpoint: str, token: str, probe: Callable[[], tuple[str, str] | None]
    ) -> tuple[str, str] | None:
        """A 401 on `endpoint` for `token` before any endpoint answered: the (endpoint, scheme) that answers the same
        token, asked once per token by `probe`, if one does; then the 401 is a missing permission, not a dead token or a
        wrong scheme. None once an endpoint has answered (`lacks_permission` tells from then on). Per token: a token
        revoked before its first use is refused everywhere, and its successor must be asked again."""
        if self.accepted:
            return None
        found: tuple[str, str] | None = self._asked_once(("first contact", endpoint, hash(token)), probe)
        return found

    def _asked_once(self, key: tuple[str, str, int], ask: Callable[[], Any]) -> Any:
        """`ask`ed once per key (a probe, per endpoint and token): the other threads refused the same token wait for
        its answer instead of asking again."""
        with self._probe_lock:
            if key not in self.probes:
                self.probes[key] = ask()
            return self.probes[key]

    def others_accepting(self, endpoint: str) -> list[str]:
        with self._lock:
            return sorted(self.accepted - {endpoint})

    # ---- envelopes ----------------------------------------------------------------------------------

    def envelope_seen(self, endpoint: str, style: str, code: str | None, by_meaning: bool) -> None:
        shown = style if code is None else f"{style} (code {code})"
        with self._lock:
            self.envelopes.setdefault(endpoint, Counter())[shown] += 1
            first = by_meaning and code is not None and code not in self.codes_read_by_meaning
            if first:
                self.codes_read_by_meaning.add(str(code))
        if first:
            log.warning(
                "%s answered code %r, which the vendor's document does not name as success; its answer carried no "
                "error message (and a success message or rows), so it was read as a success. Once the vendor "
                "confirms, pin it: HAIER_SUCCESS_CODES=%s",
                endpoint,
                code,
                code,
            )

    # ---- the token ----------------------------------------------------------------------------------

    def token_fetched(self, url: str, shape: str, expires_from: str) -> None:
        with self._lock:
            self.token_served_by, self.token_shape, self.expires_from = url, shape, expires_from

    # ---- reporting ----------------------------------------------------------------------------------

    def as_dict(self, pinned_scheme: str | None = None) -> dict[str, Any]:
        """What was detected, for `check` and its record (detected.json): no secret is ever part of it."""
        with self._lock:
            if pinned_scheme:
                scheme = f"{pinned_scheme} (pinned by HAIER_AUTH_SCHEME)"
            elif self.scheme_confirmed:
                scheme = self.scheme + (" (detected: the other scheme was refused)" if self.scheme_switched else "")
            else:
                scheme = f"{self.scheme} (not confirmed yet: no request was answered)"
            return {
                "token": {
                    "served_by": self.token_served_by,
                    "token_key": self.token_shape,
                    "lifetime_from": self.expires_from,
                },
                "auth_scheme": scheme,
                "listing_form": self.listing_form,
                "envelopes": {endpoint: dict(seen) for endpoint, seen in sorted(self.envelopes.items())},
                "codes_read_as_success_by_meaning": sorted(self.codes_read_by_meaning),
                "endpoints_that_accepted_the_token": sorted(self.accepted),
            }


_discoveries: dict[str, Discovery] = {}
_registry_lock = threading.Lock()


def shared_discovery(account: str) -> Discovery:
    """One Discovery per account (base URL and client id) in this process; without the registry's lock once it exists:
    every call asks."""
    discovery = _discoveries.get(account)
    if discovery is None:
        with _registry_lock:
            discovery = _discoveries.setdefault(account, Discovery())
    return discovery


def forget_discoveries() -> None:
    """Forget every gateway learned, e.g. when another gateway answers on the same address (a test's simulator)."""
    with _registry_lock:
        _discoveries.clear()
