"""Ctrl-C and SIGTERM at moments no step owns: inside a library's finalizer, or logged by a library that re-raises
them. Each case runs in a process of its own, set up as the console script sets itself up."""

from __future__ import annotations

import subprocess
import sys

import pytest

SETUP = "from haier_pipeline.cli.interrupts import handle_interrupts_everywhere; handle_interrupts_everywhere()\n"

# A finalizer that Ctrl-C lands in (as Python or, inside a step, as Dagster raises it), then ordinary work blocked in
# a system call, which the interrupt must cut short.
FINALIZER = """
import time
{source}

class Closing:
    def __del__(self):
        raise {interrupt}

Closing()
started = time.monotonic()
try:
    time.sleep({seconds})
except KeyboardInterrupt:
    raise SystemExit(130 if time.monotonic() - started < {seconds} / 2 else 1)  # cut short, not waited out
raise SystemExit(0)
"""

# SQLAlchemy's pool logs the interrupt it catches while closing a connection, then re-raises it.
LOGGED = """
import logging
try:
    raise KeyboardInterrupt
except KeyboardInterrupt:
    logging.getLogger("sqlalchemy.pool.impl.NullPool").error("Exception closing connection", exc_info=True)
logging.getLogger("haier_pipeline").warning("an ordinary warning still shows")
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_without_the_handling_python_ignores_an_interrupt_that_lands_in_a_finalizer() -> None:
    """The premise of the next test."""
    ignored = run(FINALIZER.format(source="", interrupt="KeyboardInterrupt", seconds=0.5))
    assert ignored.returncode == 0 and "Exception ignored" in ignored.stderr, ignored.stderr


@pytest.mark.parametrize(
    ("interrupt", "source"),
    [
        ("KeyboardInterrupt", ""),
        ("DagsterExecutionInterruptedError", "from dagster import DagsterExecutionInterruptedError"),
    ],
)
def test_an_interrupt_that_lands_in_a_finalizer_still_stops_the_command_without_a_traceback(
    interrupt: str, source: str
) -> None:
    handled = run(SETUP + FINALIZER.format(source=source, interrupt=interrupt, seconds=30))
    assert handled.returncode == 130, handled.stderr
    assert handled.stderr == ""


@pytest.mark.parametrize("setup", ["", SETUP])
def test_a_library_s_log_of_an_interrupt_prints_no_traceback(setup: str) -> None:
    printed = run(setup + LOGGED).stderr
    assert "an ordinary warning still shows" in printed
    assert ("Traceback" in printed) == (setup == ""), printed
