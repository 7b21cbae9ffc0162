"""Everything the running simulator remembers between requests (the config is separate and mutable)."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable

from haier_pipeline.simulator.auth import TokenStore
from haier_pipeline.simulator.counters import Counters


class RateLimiter:
    """A sliding one-second window over accepted requests, as a strict gateway counts them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted: deque[float] = deque()

    def admit(self, limit: float | None, now: float) -> bool:
        if limit is None:
            return True
        allowed = max(1, int(limit))
        with self._lock:
            window = self._accepted
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= allowed:
                return False
            window.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()


class SimulatorState:
    def __init__(self, seed: int = 7) -> None:
        # Every time-dependent decision (throttling, token death, token churn, busiest second) reads this clock,
        # so tests can replace it and move time by hand.
        self.clock: Callable[[], float] = time.monotonic
        self.counters = Counters()
        self.tokens = TokenStore()
        self.limiter = RateLimiter()
        self._lock = threading.Lock()
        self._faults = random.Random(f"faults|{seed}")
        # Latency jitter must not consume the fault sequence, or faults would depend on timing knobs.
        self._jitter = random.Random(f"jitter|{seed}")
        # The fault knobs draw from their own sequence, so turning one on leaves the others' sequences alone.
        self._chaos = random.Random(f"chaos|{seed}")
        self._next_revocation = 0.0

    def draw_fault(self, rate: float) -> str | None:
        """None, "503", "html" or "truncated": a seeded sequence, so a run's faults repeat with its seed.

        Half the faults are 503s; the other half are HTTP 200 answers whose body is not JSON (a proxy's
        HTML error page, or JSON cut short), which a client must not mistake for data.
        """
        if rate <= 0:
            return None
        with self._lock:
            if self._faults.random() >= rate:
                return None
            kind = self._faults.random()
        if kind < 0.5:
            return "503"
        return "html" if kind < 0.75 else "truncated"

    def chance(self, rate: float) -> bool:
        """True for a seeded share `rate` of the calls (0 never draws)."""
        if rate <= 0:
            return False
        with self._lock:
            return self._chaos.random() < rate

    def churn_tokens(self, every: float, now: float) -> None:
        """Revoke the live tokens each `every` seconds (0: never), counted from the first call that asks. Tokens
        issued within the last half period are spared, as a gateway rotating its tokens spares those it just issued:
        one revoked before its first request could go out reads as bad credentials to the client, and a busy
        machine met that twice in a row."""
        with self._lock:
            if every <= 0:
                self._next_revocation = 0.0
                return
            if self._next_revocation == 0.0:
                self._next_revocation = now + every
                return
            if now < self._next_revocation:
                return
            while self._next_revocation <= now:
                self._next_revocation += every
        self.tokens.revoke_all(issued_before=now - every / 2)

    def latency_seconds(self, latency_ms: float, jitter_ms: float) -> float:
        if latency_ms <= 0 and jitter_ms <= 0:
            return 0.0
        with self._lock:
            offset = self._jitter.uniform(-jitter_ms, jitter_ms) if jitter_ms > 0 else 0.0
        return max(0.0, latency_ms + offset) / 1000.0

    def reset(self, seed: int) -> None:
        """Zero the counters and restart the fault sequence; issued tokens stay valid."""
        self.counters.reset()
        self.limiter.reset()
        with self._lock:
            self._faults = random.Random(f"faults|{seed}")
            self._jitter = random.Random(f"jitter|{seed}")
            self._chaos = random.Random(f"chaos|{seed}")
            self._next_revocation = 0.0
