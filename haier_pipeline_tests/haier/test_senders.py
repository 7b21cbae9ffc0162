"""The senders of a fan-out pass, with real threads: their number follows what is wanted, and they end."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from haier_pipeline.haier.senders import FEWEST_SENDERS, SPARE_SENDERS, Latency, Senders, senders_for


def test_senders_for_is_littles_law_with_a_margin_between_the_fewest_and_the_most() -> None:
    assert senders_for(100, None, 256) == FEWEST_SENDERS
    assert senders_for(100, 0.03, 256) == FEWEST_SENDERS  # 4 calls in flight need no more
    assert senders_for(100, 0.6, 256) == 75 + SPARE_SENDERS
    assert senders_for(100, 5.0, 256) == 256
    assert senders_for(100, 5.0, 4) == 4  # a client configured with fewer threads than the fewest gets those


def test_the_latency_estimate_follows_a_change_within_a_few_dozen_answers() -> None:
    latency = Latency()
    latency.observe(0.03)
    assert latency.seconds == 0.03
    for _ in range(40):
        latency.observe(0.6)
    assert latency.seconds is not None and 0.5 < latency.seconds < 0.6


def test_senders_grow_to_what_is_wanted_retire_when_it_falls_and_end_with_the_pass() -> None:
    wanted = [40]
    release = threading.Event()
    done: queue.SimpleQueue[int] = queue.SimpleQueue()

    def handle(entry: int) -> None:
        release.wait(10)  # every sender busy until the test says so: their number is then exact
        done.put(entry)

    senders: Senders[int] = Senders(handle, lambda: wanted[0], "test-sender")
    try:
        for entry in range(200):
            senders.submit(entry)
        assert senders.peak == senders.alive == 40
        wanted[0] = FEWEST_SENDERS
        release.set()
        for _ in range(200):
            done.get(timeout=10)
        # The first to finish retire, down to what is wanted and its spare; the rest do the remaining work.
        assert senders.alive == FEWEST_SENDERS + SPARE_SENDERS
    except BaseException:
        senders.close(abandon=True)  # idle senders would keep the test process from ending
        raise
    senders.close(abandon=False)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("test-sender")]


def test_an_abandoned_pass_sends_nothing_it_had_queued() -> None:
    release = threading.Event()
    handled: list[int] = []

    def handle(entry: int) -> None:
        release.wait(10)
        handled.append(entry)

    senders: Senders[int] = Senders(handle, lambda: 3, "abandoned-sender")
    for entry in range(50):
        senders.submit(entry)
    senders.close(abandon=True)
    release.set()
    deadline = time.monotonic() + 10
    while any(t.name.startswith("abandoned-sender") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(handled) == [0, 1, 2], "the entries being handled end; the 47 queued are never handled"


def test_a_system_refusing_more_threads_leaves_the_work_to_those_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "can't start new thread" (the process's thread limit) cannot be provoked for one test alone without starving the
    rest of the suite: Thread.start refuses past the third sender instead."""
    real_start = threading.Thread.start
    refused_after = [3]

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("limited-sender"):
            if refused_after[0] == 0:
                raise RuntimeError("can't start new thread")
            refused_after[0] -= 1
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    senders: Senders[int] = Senders(done.put, lambda: 10, "limited-sender")
    for entry in range(30):
        senders.submit(entry)
    assert sorted(done.get(timeout=10) for _ in range(30)) == list(range(30))
    assert senders.alive == senders.peak == 3
    senders.close(abandon=False)

    refused_after[0] = 0
    none_at_all: Senders[int] = Senders(done.put, lambda: 10, "limited-sender")
    with pytest.raises(RuntimeError, match="can't start new thread"):
        none_at_all.submit(1)
