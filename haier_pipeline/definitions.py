"""The code location: every definition in `defs/`, one folder per concern, found by Dagster's `load_from_defs_folder`
(the `dg` project layout)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
