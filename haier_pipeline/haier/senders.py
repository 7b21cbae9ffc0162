"""The threads that send a fan-out's calls: as many as the answers' latency needs to keep the pacer busy.

Little's law: sending `rate` calls a second that each take `latency` seconds to answer takes `rate x latency` calls in
flight. A fixed pool caps a fan-out at pool / latency calls a second, under the vendor's limit as soon as the gateway
slows down (32 threads at 600 ms: 53 calls/s of 100). Too many threads would each take a pacing slot and wait for it:
slots handed out seconds ahead, behind which a Ctrl-C, a deadline or another process of the account then waits. So the
senders follow the latency of the answers, with a margin, and retire when it falls.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

# Senders beyond rate x latency: answers vary around the average, and a sender waking late for its slot gives it up.
LATENCY_MARGIN = 1.25
SPARE_SENDERS = 4
# A sender retires only while alive senders exceed those wanted by SPARE_SENDERS and this share of them: the latency
# estimate wavers by a few milliseconds, which at a high limit (10,000/s) moves the senders wanted by dozens, and
# senders retired at every dip were started again at the next rise (a thread started for every third call).
RETIRE_MARGIN = 0.25
# More than the circuit breaker's streak (haier.breaker.BREAKER_CALLS): when the API stops answering, one round of
# timeouts then trips it, after one HAIER_TIMEOUT instead of two.
FEWEST_SENDERS = 16
# Weight of each answer in the latency estimate: it follows a change within a few dozen answers.
SMOOTHING = 0.1

E = TypeVar("E")


def senders_for(rate: float, latency: float | None, most: int) -> int:
    """Senders that keep `rate` calls a second going when answers take `latency` seconds (None: not known yet)."""
    needed = math.ceil(rate * (latency or 0.0) * LATENCY_MARGIN) + SPARE_SENDERS
    return max(1, min(most, max(FEWEST_SENDERS, needed)))


class Latency:
    """A moving average of the seconds an answer takes, from sending to the answer's arrival (pacing waits excluded),
    fed by every thread of a client."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self.seconds = seconds if self.seconds is None else self.seconds + SMOOTHING * (seconds - self.seconds)


class Senders(Generic[E]):
    """The threads of one fan-out pass. Each takes entries from a queue and runs `handle` on them. Their number
    follows `wanted()`: senders are started (by the consumer as it submits, by a sender as it finishes an entry) while
    fewer are alive than wanted and than entries pending, and a sender retires after an entry while clearly more are
    alive than wanted (RETIRE_MARGIN).

    The consumer (the main thread) holds a lock only in `with` blocks, which a Ctrl-C leaves with the lock released:
    a lock left taken would block a sender for good, and the interpreter's exit, which joins every sender, would wait
    forever. The queue is C (SimpleQueue: its operations hold nothing)."""

    def __init__(self, handle: Callable[[E], None], wanted: Callable[[], int], name: str) -> None:
        self._handle = handle
        self._wanted = wanted
        self._name = name
        self._work: queue.SimpleQueue[E | None] = queue.SimpleQueue()
        self._counts = threading.Lock()
        self._started = 0
        self._retired = 0
        self._submitted = 0
        self._handled = 0
        self._abandoned = False
        self._threads: set[threading.Thread] = set()  # those alive or ending, for close to join
        self.peak = 0

    @property
    def alive(self) -> int:
        return self._started - self._retired

    def submit(self, entry: E) -> None:
        self._work.put(entry)
        with self._counts:
            self._submitted += 1
            self._top_up()

    def close(self, *, abandon: bool) -> None:
        """End every sender once the queue is empty; `abandon`: now, skipping the entries still queued (the calls
        already out end on their own), without waiting for them."""
        self._abandoned = abandon
        with self._counts:
            sentinels = self._started
        for _ in range(sentinels):
            self._work.put(None)
        if not abandon:
            with self._counts:
                threads = list(self._threads)
            for thread in threads:
                thread.join()

    def _top_up(self) -> None:
        """Start senders while fewer are alive than wanted and than entries pending (under `_counts`)."""
        wanted = min(self._wanted(), self._submitted - self._handled)
        while self.alive < wanted and not self._abandoned:
            thread = threading.Thread(target=self._serve, name=f"{self._name}-{self._started}")
            self._threads.add(thread)
            self._started += 1
            try:
                thread.start()
            except RuntimeError:  # the system refuses another thread: those alive do the work, if any are
                self._threads.discard(thread)
                self._started -= 1
                if self.alive == 0:
                    raise
                break
        self.peak = max(self.peak, self.alive)

    def _serve(self) -> None:
        while True:
            entry = self._work.get()
            if entry is None or self._abandoned:
                return
            self._handle(entry)
            with self._counts:
                self._handled += 1
                wanted = self._wanted()
                if self.alive > wanted + max(SPARE_SENDERS, int(wanted * RETIRE_MARGIN)):
                    self._retired += 1
                    self._threads.discard(threading.current_thread())
                    return
                self._top_up()
