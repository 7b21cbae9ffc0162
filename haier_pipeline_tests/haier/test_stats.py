"""CallStats: the counters, and the API phase's bounds that split a step's time (`sync --timings`, `make bench`)."""

from __future__ import annotations

import time

from haier_pipeline.haier.stats import CallStats


def test_the_api_phase_runs_from_the_first_request_sent_to_the_last_answer() -> None:
    stats = CallStats()
    assert stats.api_seconds() == 0.0
    assert "api_seconds" not in stats.as_metadata(), "a step that sent nothing has no API phase"

    before = time.time()
    stats.record("stock", 200.0, retry=False, throttled=False, failed=False)  # sent about 0.2 s ago
    stats.record("stock", 10.0, retry=False, throttled=False, failed=False)
    after = time.time()

    assert stats.first_sent_at is not None and stats.last_answer_at is not None
    assert before - 0.2 - 0.05 <= stats.first_sent_at <= after - 0.2
    assert stats.first_sent_at < stats.last_answer_at <= after
    assert 0.2 <= stats.api_seconds() <= after - before + 0.2
    metadata = stats.as_metadata()
    assert metadata["api_calls"] == 2
    assert metadata["api_seconds"] == round(stats.api_seconds(), 3)
    assert metadata["api_first_sent_at"].value == stats.first_sent_at
    assert metadata["api_last_answer_at"].value == stats.last_answer_at
