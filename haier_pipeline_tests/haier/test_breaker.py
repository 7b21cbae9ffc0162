"""The circuit breaker on a controlled clock: K calls without an answer over at least T seconds."""

from __future__ import annotations

import pytest

from haier_pipeline.haier import HaierUnavailableError
from haier_pipeline.haier.breaker import BREAKER_CALLS, BREAKER_SECONDS, CircuitBreaker


def test_k_consecutive_timeouts_over_t_seconds_open_it_with_a_message_naming_endpoint_and_cause() -> None:
    now = [1000.0]
    breaker = CircuitBreaker("stock", clock=lambda: now[0])
    now[0] += 30  # a full round of 30 s timeouts, sent at t=1000, all failing now
    for _ in range(BREAKER_CALLS - 1):
        breaker.no_answer(sent_at=1000.0, cause="ReadTimeout")
    with pytest.raises(HaierUnavailableError) as raised:
        breaker.no_answer(sent_at=1000.0, cause="ReadTimeout")
    message = str(raised.value)
    assert message == (
        f"stock: no answer, ReadTimeout on {BREAKER_CALLS} consecutive calls over 30 s; "
        "check HAIER_BASE_URL and HAIER_TIMEOUT"
    )
    with pytest.raises(HaierUnavailableError):
        breaker.check()  # open: nothing more is sent
    now[0] += BREAKER_SECONDS
    breaker.check()  # and it closes again after T


def test_many_instant_failures_within_t_do_not_open_it() -> None:
    now = [1000.0]
    breaker = CircuitBreaker("stock", clock=lambda: now[0])
    for _ in range(10 * BREAKER_CALLS):
        breaker.no_answer(sent_at=now[0], cause="ConnectionError")
        now[0] += (BREAKER_SECONDS - 1) / (10 * BREAKER_CALLS)
    breaker.check()
    now[0] += 1.5
    with pytest.raises(HaierUnavailableError, match="ConnectionError"):
        breaker.no_answer(sent_at=now[0], cause="ConnectionError")


def test_any_answer_resets_the_count() -> None:
    now = [1000.0]
    breaker = CircuitBreaker("stock", clock=lambda: now[0])
    for _ in range(5):
        now[0] += 30
        for _ in range(BREAKER_CALLS - 1):
            breaker.no_answer(sent_at=now[0] - 30, cause="ReadTimeout")
        breaker.answered()  # an odd slow call among answers
    breaker.check()
