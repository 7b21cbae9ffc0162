"""CallStats: the counters, and the API phase's bounds that split a step's time (`sync --timings`, `make bench`)."""

from __future__ import annotations

import math
import random
import time

import pytest

from haier_pipeline.haier.stats import CallStats, LatencyHistogram


def test_the_api_phase_runs_from_the_first_request_sent_to_the_last_answer() -> None:
    stats = CallStats()
    assert "api_seconds" not in stats.as_metadata(), "a step that sent nothing has no API phase"

    before = time.time()
    stats.record("stock", 200.0, retry=False, throttled=False, failed=False)  # sent about 0.2 s ago
    stats.record("stock", 10.0, retry=False, throttled=False, failed=False)
    after = time.time()

    assert stats.first_sent_at is not None and stats.last_answer_at is not None
    assert before - 0.2 - 0.05 <= stats.first_sent_at <= after - 0.2
    assert stats.first_sent_at < stats.last_answer_at <= after
    metadata = stats.as_metadata()
    assert 0.2 <= metadata["api_seconds"] <= after - before + 0.2
    assert metadata["api_calls"] == 2
    assert metadata["api_first_sent_at"].value == stats.first_sent_at
    assert metadata["api_last_answer_at"].value == stats.last_answer_at


def test_latency_percentiles_stay_within_one_percent_in_a_bounded_number_of_counters() -> None:
    """A day's limit is 8.64 million calls: the statistics must not keep a float per call."""
    rng = random.Random(7)
    latencies = [rng.lognormvariate(math.log(40), 0.8) for _ in range(200_000)]
    stats = CallStats()
    for latency in latencies:
        stats.record("stock", latency, retry=False, throttled=False, failed=False)

    ranked = sorted(latencies)
    summary = stats.by_endpoint()["stock"]
    for percent in (50, 95):
        exact = ranked[math.ceil(len(ranked) * percent / 100) - 1]
        assert summary[f"p{percent}_ms"] == pytest.approx(exact, rel=0.01)
    histogram = stats._endpoints["stock"].latencies
    assert histogram.total == len(latencies)
    span = math.log(ranked[-1] / ranked[0], LatencyHistogram.GROWTH)
    assert len(histogram.counts) <= span + 2, "one counter per 1 % of the latencies' span, however many calls"


def test_a_single_latency_is_its_own_percentile_and_none_reads_zero() -> None:
    histogram = LatencyHistogram()
    assert histogram.percentile(95) == 0.0
    histogram.add(30.0)
    assert histogram.percentile(50) == pytest.approx(30.0, rel=0.005)
    assert histogram.percentile(95) == pytest.approx(30.0, rel=0.005)
    histogram.add(0.0)  # a clock that did not move still counts, in the smallest bucket
    assert histogram.total == 2 and histogram.percentile(50) < 0.01
