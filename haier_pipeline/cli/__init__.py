"""`haier-pipeline`: sync, check, query, simulator, demo, ui."""

from __future__ import annotations

import gc


def console() -> int:
    """The console script. Its start imports Dagster, pandas, pandera and SQLAlchemy: about a million objects that
    the cyclic garbage collector would traverse again and again while they load (1.0 s of a 2.4 s start on a 2-core
    machine). Collection is paused until the command starts its work (`main.resume_garbage_collection`). This
    package imports nothing else, so the pause begins before the heavy imports; the command line itself is
    `haier_pipeline.cli.main.main`."""
    gc.disable()
    from haier_pipeline.cli.main import main

    return main()


__all__ = ["console"]
