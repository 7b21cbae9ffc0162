"""Ctrl-C and SIGTERM end every command the same way, at any moment: a KeyboardInterrupt, then exit 130 and one line.

Dagster turns both into an orderly interruption only while a run executes. The rest of a command's life (the imports,
the instance, the summary) is covered here, from the console script's first instruction. Standard library only: this
runs before the heavy imports.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from haier_pipeline.cli.exit_codes import EXIT_INTERRUPTED
from haier_pipeline.signals import record_interrupts

# Long enough for the hook to return (microseconds), short enough that nobody notices the wait.
REDELIVERY_DELAY = 0.05


def _is_interrupt(exc_type: type[BaseException] | None) -> bool:
    """Ctrl-C as Python raises it, or as Dagster raises it inside a step (once Dagster is loaded)."""
    if exc_type is None:
        return False
    # getattr: a Ctrl-C during Dagster's own import leaves the module half-made.
    dagster_interrupt = getattr(sys.modules.get("dagster"), "DagsterExecutionInterruptedError", KeyboardInterrupt)
    return issubclass(exc_type, (KeyboardInterrupt, dagster_interrupt))


def _redeliver_interrupt(unraisable: Any) -> None:
    """A signal that lands in a finalizer (SQLAlchemy's weakref callbacks) cannot propagate: Python printed
    "Exception ignored in ..." and carried on as if nothing had been asked. Ask again, a moment later, with a real
    SIGINT to the main thread: asked from this hook it would be raised in the hook and ignored again, and only a
    real signal wakes a main thread blocked in a system call (a socket read, a sleep)."""
    if _is_interrupt(unraisable.exc_type):
        main_thread = threading.main_thread().ident
        timer = threading.Timer(REDELIVERY_DELAY, signal.pthread_kill, (main_thread, signal.SIGINT))
        timer.daemon = True
        timer.start()
    else:
        sys.__unraisablehook__(unraisable)


class _NoInterruptTracebacks(logging.Filter):
    """A library that logs the interrupt it re-raises (SQLAlchemy closing a connection) would print its traceback
    through logging's last-resort handler; the command reports the interruption itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_interrupt(record.exc_info[0]))


def handle_interrupts_everywhere() -> None:
    record_interrupts()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.unraisablehook = _redeliver_interrupt
    last_resort = logging.lastResort
    if last_resort is not None and not any(isinstance(f, _NoInterruptTracebacks) for f in last_resort.filters):
        last_resort.addFilter(_NoInterruptTracebacks())


def report_interruption(command: str | None = None) -> int:
    """An interruption outside any step; `sync` reports the steps it interrupted itself."""
    name = f"haier-pipeline {command}" if command else "haier-pipeline"
    print(
        f"{name}: interrupted (Ctrl-C or SIGTERM). Every write is one transaction, so nothing was left half-written; "
        "run it again.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED
