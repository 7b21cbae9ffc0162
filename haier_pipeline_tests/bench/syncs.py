"""`haier-pipeline sync` as a user runs it: the console script in a process of its own, from a folder with the
project's dagster.yaml as DAGSTER_HOME and its own DuckDB file, timed from launch to exit, its peak RSS taken
from the kernel when it is reaped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline.instance import home_for_warehouse
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.warehouse.url import warehouse_label
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.bench.gateway import Gateway
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS

PROJECT = Path(__file__).resolve().parents[2]
HAIER_PIPELINE = Path(sys.executable).with_name("haier-pipeline")
# How often the runner checks whether the sync ended (and asks `kill_when`).
POLL_SECONDS = 0.01
KILL_POLL_SECONDS = 0.05


@dataclass
class Workspace:
    """A user's setup: DAGSTER_HOME with the project's dagster.yaml (its storage under that folder, shared by every
    workspace of a benchmark run, as one user's instance is), the orders file, a DuckDB warehouse of the workspace's
    own whose schema exists, and the variables pointing at the gateway. One instance records one warehouse's runs:
    the first workspace's are DAGSTER_HOME's, each other's its warehouse's own instance under it
    (`instance_home`), created here as a user's daily sync finds it in place."""

    home: Path
    name: str
    base_url: str
    counties: tuple[str, ...]
    rate_limit: float
    fork: bool = False  # the smoke test's launcher (see _fork_main); the benchmark starts the console script
    sync_timeout: float = 900.0  # a sync still running after this long is killed and reported (a hang, not a figure)
    runs: int = 0
    instance_home: Path | None = None  # the instance that records this workspace's runs (default: DAGSTER_HOME's)

    @classmethod
    def create(
        cls, home: Path, name: str, base_url: str, counties: tuple[str, ...], rate_limit: float, fork: bool = False
    ) -> Workspace:
        """`fork`: the smoke test's launcher, whose tiny syncs are given 2 minutes instead of 15."""
        if not (home / "dagster.yaml").exists():
            home.mkdir(parents=True, exist_ok=True)
            config = (PROJECT / "dagster.yaml").read_text(encoding="utf-8")
            if config.count("base_dir: data/") != 2:
                raise RuntimeError("dagster.yaml changed: the benchmark expects two `base_dir: data/...` entries")
            (home / "dagster.yaml").write_text(config.replace("base_dir: data/", f"base_dir: {home}/data/"))
            shutil.copy(PROJECT / "data" / "orders.csv", home / "orders.csv")
            # A user's daily sync finds its instance in place: create it now, not in the measured run.
            with dg.DagsterInstance.from_config(str(home)):
                pass
        workspace = cls(home, name, base_url, counties, rate_limit, fork, 120.0 if fork else 900.0)
        Warehouse.from_url(workspace.warehouse_url).ensure_schema()
        workspace.instance_home = home_for_warehouse(home, warehouse_label(workspace.warehouse_url))
        return workspace

    @property
    def warehouse_file(self) -> Path:
        return self.home / f"{self.name}.duckdb"

    @property
    def warehouse_url(self) -> str:
        return f"duckdb:///{self.warehouse_file}"

    def warehouse(self) -> Warehouse:
        return Warehouse.from_url(self.warehouse_url)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.instance_home or self.home))

    def env(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        inherited = {
            name: value for name, value in os.environ.items() if not name.startswith(("HAIER_", "DAGSTER_HOME"))
        }
        return {
            **inherited,
            "DAGSTER_HOME": str(self.home),
            "HAIER_BASE_URL": self.base_url,
            "HAIER_CLIENT_ID": SIMULATOR_CREDENTIALS["client_id"],
            "HAIER_CLIENT_SECRET": SIMULATOR_CREDENTIALS["client_secret"],
            "HAIER_CUSTOMER_CODE": SIMULATOR_CREDENTIALS["customer_code"],
            "HAIER_PASSWORD": SIMULATOR_CREDENTIALS["password"],
            "HAIER_COUNTY_CODES": ",".join(self.counties),
            "HAIER_RATE_LIMIT": str(self.rate_limit),
            "HAIER_WAREHOUSE_URL": self.warehouse_url,
            "HAIER_ORDERS_FILE": str(self.home / "orders.csv"),
            **(overrides or {}),
        }

    def table_exists(self, table: str) -> bool:
        found = self.warehouse().query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = :schema AND table_name = :table",
            {"schema": "haier", "table": table},
        )
        return int(found["n"].iloc[0]) > 0

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return self.warehouse().query(sql, params)


@dataclass(frozen=True)
class Event:
    kind: str  # Dagster's event type, or LOG for a log line
    step: str | None
    at: float


@dataclass
class SyncRun:
    """One `haier-pipeline sync` process: how long it ran, what it asked the gateway, how much memory it held."""

    argv: list[str]
    exit_code: int
    launched_at: float
    exited_at: float
    peak_rss_bytes: int
    killed: bool
    gateway_stats: dict[str, Any]
    stdout: str
    stderr: str
    timings: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # per materialized asset
    sync_log: pd.DataFrame | None = None

    @property
    def wall_seconds(self) -> float:
        return self.exited_at - self.launched_at

    @property
    def calls(self) -> int:
        """Requests the gateway received during the sync, every endpoint and the token included."""
        return int(self.gateway_stats["total_requests"])

    def endpoint_calls(self, endpoint: str) -> int:
        return int(self.gateway_stats["calls"].get(endpoint, 0))

    def step_bounds(self) -> dict[str, tuple[float, float]]:
        """Each step's start and end, from the Dagster event log."""
        starts = {event.step: event.at for event in self.events if event.kind == "STEP_START" and event.step}
        ends = {
            event.step: event.at
            for event in self.events
            if event.kind in ("STEP_SUCCESS", "STEP_FAILURE") and event.step in starts
        }
        return {step: (starts[step], ends[step]) for step in starts if step in ends}

    def describe_failure(self) -> str:
        lines = (self.stderr.strip() or self.stdout.strip() or "no output").splitlines()
        return f"exit {self.exit_code}: " + " / ".join(lines[-3:])


def run_sync(
    workspace: Workspace,
    gateway: Gateway,
    *,
    only: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    kill_when: Callable[[], bool] | None = None,
    timeout: float | None = None,
) -> SyncRun:
    """Launch `haier-pipeline sync` and wait for it; SIGKILL it as soon as `kill_when()` says so."""
    workspace.runs += 1
    label = f"{workspace.name}-sync-{workspace.runs}"
    timings_file = workspace.home / f"{label}.timings.json"
    argv = [str(HAIER_PIPELINE), "sync", *(["--only", ",".join(only)] if only else []), "--timings", str(timings_file)]
    gateway.reset()
    out_path, err_path = workspace.home / f"{label}.out", workspace.home / f"{label}.err"
    launched_at = time.time()
    if workspace.fork:
        pid = _fork_main(argv[1:], workspace.home, workspace.env(env), out_path, err_path)
    else:
        with out_path.open("wb") as out, err_path.open("wb") as err:
            pid = subprocess.Popen(argv, cwd=workspace.home, env=workspace.env(env), stdout=out, stderr=err).pid
    try:
        status, usage, killed = _wait(pid, kill_when, launched_at + (timeout or workspace.sync_timeout))
    except BaseException:  # Ctrl-C, SIGTERM, a broken gateway: the sync must not outlive the benchmark
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    exited_at = time.time()
    run = SyncRun(
        argv=argv,
        exit_code=os.waitstatus_to_exitcode(status),
        launched_at=launched_at,
        exited_at=exited_at,
        peak_rss_bytes=usage.ru_maxrss * 1024,  # kilobytes on Linux
        killed=killed,
        gateway_stats=gateway.stats(),
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
    )
    if not killed and timings_file.exists():
        run.timings = json.loads(timings_file.read_text(encoding="utf-8"))
        run.events, run.metadata = read_event_log(workspace, run.timings["run_id"])
        run.sync_log = workspace.query(
            "SELECT sync_type, status, total_count, success_count, api_calls, message, started_at, completed_at "
            "FROM {schema}.sync_log WHERE run_id = :run_id ORDER BY completed_at",
            {"run_id": run.timings["run_id"]},
        )
    return run


BARE_DAGSTER_RUN = """
import dagster as dg

@dg.asset
def nothing() -> None: ...

with dg.DagsterInstance.get() as instance:
    dg.materialize([nothing], instance=instance)
"""
# What the steps cannot run without besides Dagster: frames and validation, the warehouse, HTTP.
STEP_LIBRARIES = ("pandas", "pandera.pandas", "duckdb", "requests")


def bare_dagster_run_seconds(workspace: Workspace, libraries: tuple[str, ...] = ()) -> float:
    """What Dagster alone costs a fresh process, with nothing of this project: Python, `import dagster`, and a
    one-asset run on the workspace's instance (the sync's own storage). No run of the sync can cost less; with
    `libraries` imported first, no run of any code that loads them."""
    started = time.time()
    subprocess.run(
        [sys.executable, "-c", "".join(f"import {name}\n" for name in libraries) + BARE_DAGSTER_RUN],
        cwd=workspace.home,
        env=workspace.env(),
        check=True,
        capture_output=True,
    )
    return time.time() - started


def _fork_main(argv: list[str], folder: Path, env: dict[str, str], out_path: Path, err_path: Path) -> int:
    """The smoke test's launcher: a fork of this process, whose imports are done, runs the command line's `main`
    with the same arguments, folder and variables; start-up costs nothing, so its timings mean nothing."""
    from haier_pipeline.cli import check, demo, query, simulator, sync, ui  # noqa: F401 (imported once, not per fork)

    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(env)
        for fd, path in ((1, out_path), (2, err_path)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 (the process ends here)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        from haier_pipeline.cli.main import main

        code = main(argv)
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, kill_when: Callable[[], bool] | None, deadline: float) -> tuple[int, Any, bool]:
    """Reap the process with wait4, which hands back its own resource usage (its peak RSS among it)."""
    killed = False
    next_check = 0.0
    while True:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return status, usage, killed
        now = time.time()
        if not killed and kill_when is not None and now >= next_check:
            next_check = now + KILL_POLL_SECONDS
            if kill_when():
                os.kill(pid, signal.SIGKILL)
                killed = True
        if now > deadline and not killed:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(POLL_SECONDS)


def read_event_log(workspace: Workspace, run_id: str) -> tuple[list[Event], dict[str, dict[str, Any]]]:
    """The run's events, and each materialized asset's metadata as plain values."""
    with workspace.instance() as instance:
        entries = instance.all_logs(run_id)
    events, metadata = [], {}
    for entry in entries:
        event = entry.dagster_event
        events.append(Event(event.event_type_value if event else "LOG", entry.step_key, entry.timestamp))
        if event is not None and event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            metadata[materialization.asset_key.to_user_string()] = {
                name: value.value for name, value in materialization.metadata.items()
            }
    return events, metadata


def stock_day() -> str:
    return today_in_shanghai().isoformat()
