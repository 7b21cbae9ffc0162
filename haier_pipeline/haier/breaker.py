"""Fail fast when an endpoint is gone: one circuit breaker per endpoint.

The breaker opens after BREAKER_CALLS (K) consecutive calls got no answer at all (connection errors,
timeouts) spanning at least BREAKER_SECONDS (T), measured from the send of the streak's first call to the
failure of its last. Any answer, whatever its status, resets the count. While open (T seconds), every call
on the endpoint raises HaierUnavailableError at once, which stops the whole fan-out.

Why K = 12 and T = 15 s:
- A real gateway's odd slow call is one timeout among answers; the answers reset the count. Only an
  endpoint that answered nothing to 12 calls in a row for 15 s trips it, and a network blip shorter than
  15 s never does (its items are retried, then given a second pass).
- With a fan-out's senders (at least 16, haier.senders.FEWEST_SENDERS) all waiting on one timeout round, 12 < 16
  failures arrive together after one HAIER_TIMEOUT, and each of them has waited a full timeout (30 s by default,
  over T): the breaker trips after about one timeout, not pairs x 4 attempts x timeout. Refused connections fail
  instantly; there T decides (about 15 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from haier_pipeline.errors import HaierUnavailableError

BREAKER_CALLS = 12
BREAKER_SECONDS = 15.0


class CircuitBreaker:
    def __init__(
        self,
        endpoint: str,
        calls: int = BREAKER_CALLS,
        seconds: float = BREAKER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._streak = 0
        self._streak_started = 0.0
        self._open_until = 0.0
        self._tripped: tuple[str, int, float] | None = None  # cause, calls, seconds of the last trip
        self._hint: dict[str, str] = {}

    def check(self) -> None:
        """Raise at once while the breaker is open: no call is sent to an endpoint that is gone."""
        if self._tripped is not None and self._clock() < self._open_until:
            cause, calls, seconds = self._tripped
            raise HaierUnavailableError(self.endpoint, cause, calls, seconds, **self._hint)

    def trip(self, sent_at: float, cause: str, hint: str, calls: int = 1) -> HaierUnavailableError:
        """Open at once: for an endpoint called once per process (the token), `calls` without an answer since
        `sent_at` mean the API is gone, and every later step should fail at once instead of waiting out its own."""
        with self._lock:
            now = self._clock()
            self._tripped = (cause, calls, now - sent_at)
            self._open_until = now + self.seconds
            self._hint = {"hint": hint}
        return HaierUnavailableError(self.endpoint, cause, calls, now - sent_at, hint=hint)

    def answered(self) -> None:
        if self._streak:
            with self._lock:
                self._streak = 0

    def no_answer(self, sent_at: float, cause: str) -> None:
        """Count a call sent at `sent_at` that got no answer; trips (and raises) at K calls over T seconds."""
        with self._lock:
            now = self._clock()
            if self._streak == 0:
                self._streak_started = sent_at
            self._streak += 1
            self._streak_started = min(self._streak_started, sent_at)
            span = now - self._streak_started
            if self._streak >= self.calls and span >= self.seconds:
                self._tripped = (cause, self._streak, span)
                self._open_until = now + self.seconds
                self._streak = 0
        self.check()
