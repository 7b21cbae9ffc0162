"""Client-side pacing so the gateway never has to throttle: one limiter per process and account."""

from __future__ import annotations

import threading
import time

# Requests reach the gateway with a few milliseconds of jitter; pacing 3 % under the limit keeps a
# sliding one-second window at the gateway from ever counting one request too many.
HEADROOM = 0.03


class RateLimiter:
    """Hands out send slots evenly spaced, shared by every thread.

    Even spacing (no burst allowance) means any one-second window holds fewer than `rate` sends, which is
    what a sliding-window gateway counts; a token bucket with a burst could exceed it at a boundary.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._interval = (1.0 + HEADROOM) / rate
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until this caller's slot; returns the seconds waited.

        A thread that wakes up well after its slot (the interpreter was busy) would send late, right next
        to the on-time sender of the following slot, and two of them could land in one gateway window
        with a request too many. It gives its slot up and takes a new one instead."""
        started = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                slot = max(now, self._next_slot)
                self._next_slot = slot + self._interval
            if slot > now:
                time.sleep(slot - now)
            if time.monotonic() - slot <= self._interval / 2:
                return time.monotonic() - started

    def defer(self, seconds: float) -> None:
        """After a 429 every thread holds off, not just the one that was told to."""
        with self._lock:
            self._next_slot = max(self._next_slot, time.monotonic() + seconds)


_limiters: dict[tuple[str, float], RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(account: str, rate: float) -> RateLimiter:
    """The rate limit is per account, so every client of one account in this process shares one limiter."""
    with _registry_lock:
        key = (account, rate)
        if key not in _limiters:
            _limiters[key] = RateLimiter(rate)
        return _limiters[key]
