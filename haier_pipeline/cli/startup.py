"""The console script's pause of the cyclic garbage collector during its heavy imports, and its end."""

from __future__ import annotations

import atexit
import gc


def resume_garbage_collection() -> None:
    """End the console script's start-up pause (`haier_pipeline.cli.console`): freeze what was loaded, so later
    collections skip it, and collect again. A no-op when collection was not paused."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def freeze_heap_at_exit() -> None:
    """Freeze the heap when the interpreter exits: its last garbage collections then skip everything Dagster, pandas
    and SQLAlchemy allocated, which took about 1 s of every sync's exit on a busy 2-core machine (0.1 s frozen).
    Objects are still released by reference counting; only cycles are left to the operating system. Idempotent."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
