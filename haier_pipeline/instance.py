"""The Dagster instance the CLI records its runs in: the same one `make ui` shows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster import DagsterInstance


def project_instance() -> DagsterInstance:
    """DAGSTER_HOME when set; else the project folder when it holds dagster.yaml (the UI's instance);
    else an ephemeral instance, with a warning that the run will not appear in the UI."""
    if not os.environ.get("DAGSTER_HOME") and (Path.cwd() / "dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return DagsterInstance.get()
    print(
        "warning: DAGSTER_HOME is not set and there is no dagster.yaml here: this run will not appear in the "
        "Dagster UI (run from the project folder, or set DAGSTER_HOME)",
        file=sys.stderr,
    )
    return DagsterInstance.ephemeral()
