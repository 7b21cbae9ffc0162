from __future__ import annotations

import io

from haier_pipeline.defs.haier_catalog.stock.progress import Progress
from haier_pipeline.haier.stats import CallStats


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_with_rate_throttled_and_eta() -> None:
    stats = CallStats()
    stats.record("stock", 30.0, retry=False, throttled=True, failed=True)
    terminal = Terminal()
    progress = Progress("stock 2026-11-26", 400, stats=stats, stream=terminal)
    progress.update(100, 400)
    progress.finish()
    drawn = terminal.getvalue()
    assert "stock 2026-11-26: 100/400" in drawn
    assert "throttled 1" in drawn and "calls/s" in drawn and "ETA" in drawn
    assert drawn.endswith("400/400" + drawn.split("400/400")[-1]) and drawn.endswith("\n")


def test_progress_stays_quiet_in_logs() -> None:
    log = io.StringIO()
    progress = Progress("stock", 10, stream=log)
    progress.update(5, 10)
    progress.finish()
    assert log.getvalue() == ""


def test_progress_is_logged_at_each_tenth_done_for_the_run_log() -> None:
    """A ten-minute stock step said nothing in the UI's run log between its first line and its last."""
    lines: list[str] = []
    progress = Progress("stock 2026-11-26", 100, stats=CallStats(), stream=io.StringIO(), log=lines.append)
    for done in range(1, 101):
        progress.update(done, 100)
    assert [line.split()[2] for line in lines] == [f"{n}/100" for n in range(10, 100, 10)]
    assert all("calls/s" in line and "retries 0" in line and "ETA" in line for line in lines)
