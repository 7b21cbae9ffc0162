"""Whether a SIGINT or SIGTERM reached this process, whoever handled it: the command line records them from its first
instruction, and no step starts after one. Standard library only: it runs before the heavy imports."""

from __future__ import annotations

import os
import signal
import threading

# The read end of the pipe Python writes each signal's number to (signal.set_wakeup_fd), and whether a SIGINT or
# SIGTERM was among them.
_wakeup_read: int | None = None
_received = False


def record_interrupts() -> None:
    """Note every SIGINT and SIGTERM this process receives, whoever handles it. Python writes the number of each
    signal to a wakeup pipe before any handler runs, so the note survives a handler that is replaced (Dagster swaps
    its own in between steps and inside them) and an interrupt a library swallows (DuckDB turns one into
    `RuntimeError("Query interrupted")`, which any `except Exception` on the way drops): `interrupt_received` reads
    it. A no-op outside the main thread, or when already set up."""
    global _wakeup_read
    if _wakeup_read is not None or threading.current_thread() is not threading.main_thread():
        return
    read, write = os.pipe()
    for end in (read, write):
        os.set_blocking(end, False)
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:
        os.close(read)
        os.close(write)
        return
    _wakeup_read = read


def interrupt_received() -> bool:
    """Whether a SIGINT or SIGTERM reached this process since `record_interrupts` (False when it was not called):
    asked before a step starts, so that none starts after an interrupt, however the interrupt was handled."""
    global _received
    while not _received and _wakeup_read is not None:
        try:
            numbers = os.read(_wakeup_read, 512)
        except BlockingIOError:
            break
        if not numbers:
            break
        _received = signal.SIGINT in numbers or signal.SIGTERM in numbers
    return _received
