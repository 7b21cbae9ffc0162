"""`haier-pipeline`: sync, check, query, simulator, demo, ui."""

from __future__ import annotations

import gc
import sys

from haier_pipeline.cli.interrupts import handle_interrupts_everywhere

EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def console() -> int:
    """The console script. Its start imports Dagster, pandas, pandera and SQLAlchemy: about a million objects that
    the cyclic garbage collector would traverse again and again while they load (1.0 s of a 2.4 s start on a 2-core
    machine). Collection is paused until the command starts its work (`main.resume_garbage_collection`). This
    package imports nothing else, so the pause begins before the heavy imports; the command line itself is
    `haier_pipeline.cli.main.main`. Ctrl-C and SIGTERM are handled from the first instruction (`interrupts`): one
    during those imports ends in one line, not in a traceback or a silent death."""
    handle_interrupts_everywhere()
    gc.disable()
    try:
        from haier_pipeline.cli.main import main

        return main()
    except KeyboardInterrupt:  # `main` reports one while its command runs; this is before (the imports) or after
        return report_interruption()


def report_interruption(command: str | None = None) -> int:
    """An interruption outside any step; `sync` reports the steps it interrupted itself."""
    name = f"haier-pipeline {command}" if command else "haier-pipeline"
    print(
        f"{name}: interrupted (Ctrl-C or SIGTERM). Every write is one transaction, so nothing was left half-written; "
        "run it again.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


__all__ = ["EXIT_INTERRUPTED", "console", "report_interruption"]
