"""`make clean` removes everything the project writes, and nothing it tracks (checked with `make -n`, so the suite
does not delete its own .venv)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRITTEN = [
    ".venv",
    "data/warehouse.duckdb",
    "data/warehouse.duckdb.wal",
    "data/*.duckdb.lock",
    "data/dagster",
    "data/bench",
    "test-artifacts",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "__pycache__",
    # What the UI and its daemon write in DAGSTER_HOME (the project folder), and what a killed `dg dev` leaves.
    "logs",
    ".logs_queue",
    ".tmp_dagster_home_*",
]


def test_make_clean_removes_everything_the_project_writes() -> None:
    commands = subprocess.run(
        ["make", "-n", "clean"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for path in WRITTEN:
        assert path in commands, path
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert tracked and not [path for path in tracked if path in commands], "tracked data files stay"


def test_the_project_writes_nothing_outside_what_clean_removes_and_git_ignores() -> None:
    ignored = (REPO / ".gitignore").read_text().split()
    for pattern in (
        "data/*.duckdb",
        "data/*.duckdb.wal",
        "data/*.lock",
        "data/dagster/",
        "data/bench/",
        "test-artifacts/",
        "/logs/",
        "/.logs_queue/",
        "/.tmp_dagster_home_*/",
    ):
        assert pattern in ignored, pattern
