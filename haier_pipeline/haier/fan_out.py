"""A fan-out: one call per item on the senders, each item's Outcome as soon as it is final, and one more pass over
the items left unanswered. It knows nothing of HTTP: the client hands it the call, and a refusal is told from an
unanswered item by the client's typed errors."""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Generic, TypeVar

from haier_pipeline.errors import HaierBusinessError, HaierError, HaierPermissionError, HaierRequestError
from haier_pipeline.haier.senders import Senders
from haier_pipeline.redaction import redacting_logger

log = redacting_logger("haier_pipeline.haier")

# A fan-out whose first answers are all one same refusal, for this many different subjects (products, batches), is
# refused as a whole: the account is refused.
ACCOUNT_REFUSAL_STREAK = 5
# Items queued for a stream's senders beyond those being sent: about a second of calls at 100/s, so a consumer pausing
# to write a checkpoint does not idle the senders, and a stop (a deadline) leaves little in flight.
STREAM_QUEUE = 128
# While a stream runs, the interpreter passes its lock every millisecond instead of every 5: a sender waking for
# its pacing slot while the consumer parses and writes a checkpoint would otherwise be held past the slot's
# tolerance (half the 10 ms spacing) and give the slot up.
SENDER_SWITCH_INTERVAL = 0.001

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """One item of a fan-out: its value, or the error that survived every retry and the second pass.

    `error.transient` tells the two kinds of failure apart: an *unanswered* item (throttled, server
    trouble, no answer, a garbled body: a delivery failure) or an item the vendor *refused* (a failure
    envelope for that item, an unusable answer: a data problem)."""

    item: T
    value: R | None = None
    error: HaierError | None = None

    @property
    def unanswered(self) -> bool:
        return self.error is not None and self.error.transient

    @property
    def refused(self) -> bool:
        return self.error is not None and not self.error.transient


@dataclass(frozen=True)
class FanOut:
    """How one client fans out: how many senders the answers' latency wants now, where the peak is reported, and
    the quiet time before the second pass."""

    senders_wanted: Callable[[], int]
    record_peak: Callable[[int], None]
    second_pass_pause: float

    def run(
        self,
        call: Callable[[T], R],
        items: Iterable[T],
        progress: Callable[[int, int], None] | None,
        stop: Callable[[], bool] | None,
        subject: Callable[[T], Hashable] | None = None,
    ) -> Iterator[tuple[int, Outcome[T, R]]]:
        """Each item's index and final Outcome, in completion order (HaierClient.stream says what is final).

        `subject` says what a refusal of an item is about (a stock pair's product; None: each item is its own), so
        that one product refused in every county is not taken for the account (see RefusalStreak)."""
        total = len(items) if isinstance(items, Sized) else 0
        unanswered: list[tuple[int, T]] = []
        for index, outcome in self._pass(call, enumerate(items), progress, total, stop, subject):
            if outcome.unanswered:
                unanswered.append((index, outcome.item))
            else:
                yield index, outcome
        if unanswered:
            pause = self.second_pass_pause
            log.info("%d items unanswered; one more pass in %.1f s", len(unanswered), pause)
            time.sleep(pause)
            still = 0
            for index, outcome in self._pass(call, iter(unanswered), None, 0, None, subject):
                still += outcome.unanswered
                yield index, outcome
            if still:
                log.warning("%d of %d items still unanswered after a second pass", still, len(unanswered))

    def _pass(
        self,
        call: Callable[[T], R],
        items: Iterator[tuple[int, T]],
        progress: Callable[[int, int], None] | None,
        total: int,
        stop: Callable[[], bool] | None,
        subject: Callable[[T], Hashable] | None,
    ) -> Iterator[tuple[int, Outcome[T, R]]]:
        done = 0
        streak = RefusalStreak()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, SENDER_SWITCH_INTERVAL))
        # Each sender hands its item's result (or error) over through a queue: not concurrent.futures, whose futures
        # take locks in Python code, where a Ctrl-C can land after a lock is taken and before it is released. The
        # thread finishing that future then blocks for good, and the interpreter's exit, which joins every thread,
        # waits forever: a sync that said "interrupted" and never ended. A SimpleQueue is C: its get holds nothing.
        finished: queue.SimpleQueue[tuple[tuple[int, T], R | None, BaseException | None]] = queue.SimpleQueue()
        in_flight = 0

        def deliver(entry: tuple[int, T]) -> None:
            try:
                result = call(entry[1])
            except BaseException as error:
                finished.put((entry, None, error))
            else:
                finished.put((entry, result, None))

        senders: Senders[tuple[int, T]] = Senders(deliver, self.senders_wanted, "haier")

        def start_next() -> bool:
            nonlocal in_flight
            if stop is not None and stop():
                return False
            entry = next(items, None)
            if entry is None:
                return False
            in_flight += 1
            senders.submit(entry)
            return True

        def top_up() -> None:
            window = STREAM_QUEUE + self.senders_wanted()
            while in_flight < window and start_next():
                pass

        try:
            top_up()
            while in_flight:
                (index, item), value, error = finished.get()
                in_flight -= 1
                if error is None:
                    outcome = Outcome(item, value=value)
                elif isinstance(error, HaierError) and _is_item_error(error):
                    outcome = Outcome(item, error=error)
                else:
                    raise error
                if streak.refuses_the_account(index if subject is None else subject(item), error):
                    raise _account_refusal(error)
                done += 1
                yield index, outcome
                top_up()
                if progress is not None:
                    progress(done, max(total, done))
        except BaseException:
            # Calls already out end on their own (the breaker stops the retries of threads waiting on a dead
            # endpoint); nothing queued is sent.
            senders.close(abandon=True)
            raise
        finally:
            sys.setswitchinterval(switch_interval)
            self.record_peak(senders.peak)
        senders.close(abandon=False)


def _is_item_error(error: BaseException) -> bool:
    """Errors that concern one item; anything else stops the fan-out. A missing permission (a 403, however its bodies
    differ, e.g. by a trace id) concerns every item alike: the first one stops the fan-out."""
    if isinstance(error, HaierBusinessError):
        return not error.account_refused
    return isinstance(error, HaierRequestError) and not isinstance(error, HaierPermissionError)


def _refusal_key(error: BaseException | None) -> tuple[object, ...] | None:
    """What makes two refusals "the same"; None for an answer or an unanswered item."""
    if isinstance(error, HaierBusinessError):
        return ("business", error.code, error.reason)
    if isinstance(error, HaierRequestError) and not error.transient:
        return ("request", error.status, error.detail)
    return None


class RefusalStreak:
    """Whether a fan-out's first answers refuse the account: one same refusal, and nothing else, for
    ACCOUNT_REFUSAL_STREAK different subjects. Counting subjects, not answers: a stock plan asks one product in
    every county before the next, and that product's refusal (discontinued) on its first answers is not the
    account's."""

    def __init__(self) -> None:
        self.refusal: tuple[object, ...] | None = None
        self.subjects: set[Hashable] = set()
        self.broken = False

    def refuses_the_account(self, subject: Hashable, error: BaseException | None) -> bool:
        if self.broken:
            return False
        refusal = _refusal_key(error)
        if refusal is None or (self.refusal is not None and refusal != self.refusal):
            self.broken = True  # an answer, or another refusal: the account is served
            return False
        self.refusal = refusal
        self.subjects.add(subject)
        return len(self.subjects) >= ACCOUNT_REFUSAL_STREAK


def _account_refusal(error: BaseException | None) -> BaseException:
    """The same refusal on a fan-out's first answers: every other item would be refused the same way."""
    if isinstance(error, HaierBusinessError):
        return HaierBusinessError(
            error.endpoint,
            error.code,
            f"{error.reason} (the first answers, for {ACCOUNT_REFUSAL_STREAK} different items, were all this refusal)",
            account_refused=True,
        )
    assert error is not None
    return error
