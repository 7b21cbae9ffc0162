"""The console script pauses garbage collection while Dagster, pandas and pandera load, and every command collects
again before its work: a sync's run must not grow its memory unchecked."""

from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from haier_pipeline.cli import console
from haier_pipeline.cli import sync as sync_command


@pytest.fixture
def console_state_restored() -> Iterator[None]:
    """The console script also takes over SIGTERM and the unraisable hook: this worker gets its own back."""
    sigterm, unraisable = signal.getsignal(signal.SIGTERM), sys.unraisablehook
    yield
    gc.enable()
    signal.signal(signal.SIGTERM, sigterm)
    sys.unraisablehook = unraisable


def test_a_sync_collects_garbage_again_before_its_run_starts(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, console_state_restored: None
) -> None:
    seen: list[bool] = []

    class RunStarted(BaseException):
        """Stops the command where the run would start; not an Exception, which the command line reports."""

    def run_assets(*args: Any, **kwargs: Any) -> None:
        seen.append(gc.isenabled())
        raise RunStarted

    monkeypatch.setattr(sync_command, "run_assets", run_assets)
    monkeypatch.setattr(sys, "argv", ["haier-pipeline", "sync", "--only", "balance"])
    with pytest.raises(RunStarted):
        console()
    assert seen == [True], "the run starts with garbage collection on"


def test_every_other_command_collects_garbage_again(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, console_state_restored: None
) -> None:
    monkeypatch.setattr(sys, "argv", ["haier-pipeline", "query", "balance"])
    assert console() == 0
    assert gc.isenabled()
