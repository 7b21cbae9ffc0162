"""`haier-pipeline`: sync, check, query, simulator, demo, ui."""

from __future__ import annotations

import gc

from haier_pipeline.cli.interrupts import handle_interrupts_everywhere, report_interruption


def console() -> int:
    """The console script. Its start imports Dagster, pandas, pandera and SQLAlchemy: about a million objects that
    the cyclic garbage collector would traverse again and again while they load (1.0 s of a 2.4 s start on a 2-core
    machine). Collection is paused until the command starts its work (`startup.resume_garbage_collection`). This
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


__all__ = ["console"]
