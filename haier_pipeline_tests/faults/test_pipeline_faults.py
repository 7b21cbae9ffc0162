"""The whole pipeline under fire: each fault of issue 8 against the real simulator over HTTP and a real warehouse.

Faults about one run go through the pipeline in-process (`pipelines.py`) or the `haier-pipeline` command line in
this process (`main([...])`, as `cli/test_cli.py` does); faults about processes (SIGKILL, two syncs at once) start
the real `haier-pipeline sync` console script. Each test asserts the outcome the README's reliability table
promises: every row delivered (the tables hold what a clean run writes), or a failure that names the step and its
cause and leaves every table as it was (full contents compared before and after).

Faults covered elsewhere, and not repeated here:
- an empty listing: `assets/test_pipeline.py::test_the_deactivation_guard_blocks_an_empty_listing` (both backends)
  and `cli/test_cli.py::test_sync_exit_codes_and_the_failing_step_on_stderr` (exit 1);
- a held DuckDB file naming its holder after HAIER_WAREHOUSE_LOCK_TIMEOUT:
  `cli/test_process_edges.py::test_a_held_duckdb_file_fails_the_step_after_the_lock_timeout_naming_the_holder`;
- a killed CLI run marked failed by the next sync and alerted once:
  `automation/test_alerts.py::test_a_killed_cli_sync_is_marked_failed_by_the_next_sync_and_alerted_once`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pandas as pd
import psycopg
import pytest
import requests

from haier_pipeline.cli.main import main
from haier_pipeline.defs import resources as resources_module
from haier_pipeline.defs.alerts.sensors import run_failure_alert_sensor
from haier_pipeline.defs.haier_catalog.stock.checkpoint import CHECKPOINT_TABLES
from haier_pipeline.defs.outcomes import interrupted_message
from haier_pipeline.defs.resources import WarehouseResource
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.senders import senders_for
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline.warehouse.tables import table_names
from haier_pipeline.warehouse.warehouse import Warehouse, WarehouseTransaction
from haier_pipeline_tests.faults.test_client_faults import gateway_process, non_loopback_address
from haier_pipeline_tests.pipelines import Pipeline, make_pipeline
from haier_pipeline_tests.postgres import POSTGRES_URL
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config
from haier_pipeline_tests.ui.conftest import write_instance_config
from haier_pipeline_tests.warehouse.helpers import journal_on_a_full_disk

SECRETS = (SIMULATOR_CREDENTIALS["client_secret"], SIMULATOR_CREDENTIALS["password"])
# Every table a failed step must leave as it was. sync_log records the failure; stock_answers and
# stock_staged_rows are the stock day's checkpoint, which keeps what was answered so that a rerun asks only the rest.
WAREHOUSE_TABLES = tuple(name for name in table_names() if name not in ("sync_log", *CHECKPOINT_TABLES))
# Columns that differ between two runs that wrote the same data: when, and by which run.
RUN_STAMPS = ("valid_from", "valid_to", "run_id")
HAIER_PIPELINE = str(Path(sys.executable).with_name("haier-pipeline"))
# Calls one client has in flight while answers take under 100 ms (or none arrives): see haier.senders.
FAST_ANSWER_SENDERS = senders_for(100.0, 0.1, HaierClient.model_fields["max_workers"].default)

Rows = list[tuple[Any, ...]]


# ---- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    """This module's simulator for the command line tests (`api_env`): fewer products than the suite's default."""
    with start_simulator(simulator_config(products=30)) as running:
        yield running


@pytest.fixture
def cli_env(api_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a user running `haier-pipeline` against the simulator, into a fresh DuckDB file."""
    home = tmp_path / "dagster_home"
    orders = tmp_path / "orders.csv"
    orders.write_text("order_code\nSO.20190106.000003\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("HAIER_ORDERS_FILE", str(orders))
    return {**api_env, "DAGSTER_HOME": str(home), "HAIER_ORDERS_FILE": str(orders)}


@pytest.fixture
def postgres_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with make_pipeline("postgres", tmp_path) as built:
        yield built


# ---- what the warehouse holds ----------------------------------------------------------------------------------


def sorted_rows(frame: pd.DataFrame) -> Rows:
    frame = frame.astype(object).where(frame.notna(), None)
    return sorted((tuple(row) for row in frame.itertuples(index=False)), key=repr)


def contents(warehouse: Warehouse, *, without_run_stamps: bool = False) -> dict[str, Rows]:
    """Every table's full contents (sync_log aside), rows sorted; optionally without the columns that say when and
    by which run. Read in one transaction: one snapshot, and one open of a DuckDB file instead of one per table."""
    tables = {}
    with warehouse.transaction() as tx:
        for name in WAREHOUSE_TABLES:
            frame = tx.query(f"SELECT * FROM {{schema}}.{name}")
            if without_run_stamps:
                frame = frame[[c for c in frame.columns if not (c.endswith("_at") or c in RUN_STAMPS)]]
            tables[name] = sorted_rows(frame)
    return tables


def step_outcomes(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """What each step of the runs reported, without the counts that depend on retries (api_calls, retries)."""
    frame = warehouse.query(
        "SELECT sync_type, status, total_count, success_count, failed_count, unanswered_count FROM {schema}.sync_log"
    )
    return sorted(tuple(row) for row in frame.astype(object).itertuples(index=False))


def stock_pairs(warehouse: Warehouse, day: date) -> set[tuple[str, str]]:
    frame = warehouse.query(
        "SELECT DISTINCT product_code, county_code FROM {schema}.stock_snapshots WHERE snapshot_date = :day",
        {"day": day},
    )
    return set(frame.itertuples(index=False, name=None))


def every_pair(simulator: RunningSimulator) -> set[tuple[str, str]]:
    """Every (product, county) the stock step asks: each active procurable product in each configured county."""
    return {(code, county) for code in simulator.dataset.procurable_codes for county in simulator.config.counties}


def failed_steps(warehouse: Warehouse) -> list[tuple[str, str]]:
    frame = warehouse.query("SELECT sync_type, message FROM {schema}.sync_log WHERE status = 'failed'")
    return [tuple(row) for row in frame.itertuples(index=False)]


def cli_warehouse(env: dict[str, str]) -> Warehouse:
    return Warehouse.from_url(env["HAIER_WAREHOUSE_URL"])


def sync(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`haier-pipeline sync ARGV` in this process: exit code, stdout, stderr."""
    code = main(["sync", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def step_lines(stderr: str) -> list[str]:
    """The failed steps' lines (each step held back by one is named on a line of its own)."""
    return [line for line in stderr.splitlines() if re.match(r"haier-pipeline sync: step \S+ failed: ", line)]


@contextmanager
def knobs_once(
    simulator: RunningSimulator, condition: Callable[[], bool], knobs: dict[str, Any]
) -> Iterator[threading.Event]:
    """Turn the simulator's `knobs` on as soon as `condition` holds (a fault that starts in the middle of a step)."""
    applied, stop = threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if condition():
                simulator.config.update(knobs)
                applied.set()
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, name="knobs-once", daemon=True)
    watcher.start()
    try:
        yield applied
    finally:
        stop.set()
        watcher.join()


# ---- every row delivered ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanRun:
    """What a run without faults writes, without the columns that say when and by which run."""

    tables: dict[str, Rows]
    steps: list[tuple[Any, ...]]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[date], CleanRun]:
    """A clean full run of the `make_pipeline` pipeline for a simulated day, made once per day for the module."""
    made: dict[date, CleanRun] = {}

    def for_day(day: date) -> CleanRun:
        if day not in made:
            with make_pipeline("duckdb", tmp_path_factory.mktemp("clean")) as clean:
                assert clean.today == day, "the reference is the same simulated day"
                result = clean.run()
                assert result.success, clean.failures(result)
                made[day] = CleanRun(contents(clean.warehouse, without_run_stamps=True), step_outcomes(clean.warehouse))
        return made[day]

    return for_day


def assert_filled_as_the_clean_run(pipeline: Pipeline, clean: CleanRun) -> None:
    assert contents(pipeline.warehouse, without_run_stamps=True) == clean.tables
    assert step_outcomes(pipeline.warehouse) == clean.steps
    assert {status for _, status, *_ in clean.steps} == {"success"}


def test_token_churn_during_a_sync_fills_every_table_as_a_clean_run_does(
    duckdb_pipeline: Pipeline, clean_run: Callable[[date], CleanRun]
) -> None:
    simulator = duckdb_pipeline.simulator
    simulator.config.token_revoke_every = 0.5
    result = duckdb_pipeline.run()
    assert result.success, duckdb_pipeline.failures(result)
    assert_filled_as_the_clean_run(duckdb_pipeline, clean_run(duckdb_pipeline.today))
    assert simulator.counters.statuses("stock").get("401", 0) > 0, "tokens were revoked under the stock fan-out"
    assert simulator.counters.calls("token") >= 3


def test_junk_bodies_during_a_sync_fill_every_table_as_a_clean_run_does(
    duckdb_pipeline: Pipeline, clean_run: Callable[[date], CleanRun]
) -> None:
    # fault_rate 0.3: 15 % of the data calls answered 503, 15 % answered 200 with an HTML page or truncated JSON.
    duckdb_pipeline.simulator.config.fault_rate = 0.3
    result = duckdb_pipeline.run()
    assert result.success, duckdb_pipeline.failures(result)
    assert_filled_as_the_clean_run(duckdb_pipeline, clean_run(duckdb_pipeline.today))
    retries = duckdb_pipeline.warehouse.query(
        "SELECT sync_type, retries FROM {schema}.sync_log WHERE sync_type = 'stock_snapshots'"
    )
    assert int(retries["retries"].iloc[0]) > 0, "junk answers were retried"


def test_throttling_and_503s_during_a_cli_sync_deliver_every_pair_and_exit_0(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # 15 % random 429s (Retry-After 0.2 s), 5 % 503s and 5 % garbled 200s, on every data endpoint; a listing of every
    # product, procurable or not.
    simulator.config.update(
        {"throttle_rate": 0.15, "fault_rate": 0.1, "retry_after": 0.2, "listing_not_procurable": True}
    )
    code, _, err = sync(capsys)
    assert code == 0, err
    warehouse = cli_warehouse(cli_env)
    dataset = simulator.dataset
    assert stock_pairs(warehouse, today_in_shanghai()) == every_pair(simulator)
    counts = warehouse.table_counts()
    assert counts["products"] == len(dataset.codes) and counts["prices"] == len(dataset.procurable_codes)
    assert counts["account_balances"] > 0 and counts["logistics_events"] > 0 and counts["rejected_rows"] == 0
    assert {status for _, status, *_ in step_outcomes(warehouse)} == {"success"}
    seen = simulator.counters.statuses("stock")
    assert seen.get("429", 0) > 0 and seen.get("503", 0) > 0, seen


# ---- failures that name the step and leave every table as it was -----------------------------------------------


def test_api_down_during_a_cli_sync_fails_the_stock_step_at_once_naming_the_breakers_cause(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert sync(capsys, "--only", "products,stock")[0] == 0
    warehouse = cli_warehouse(cli_env)
    before = contents(warehouse)
    pairs = len(every_pair(simulator))
    monkeypatch.setenv("HAIER_TIMEOUT", "2")
    # Time shrunk: the breaker's T from 15 s to 0.5 s, HAIER_TIMEOUT from 30 s to 2 s (K stays 12 calls).
    client_from_settings = resources_module.client_from_settings

    def client_with_a_shrunk_breaker(settings: Any) -> HaierClient:
        return HaierClient(**{**client_from_settings(settings).model_dump(), "breaker_seconds": 0.5})

    monkeypatch.setattr(resources_module, "client_from_settings", client_with_a_shrunk_breaker)
    simulator.reset_counters()
    # The API goes down once the stock step has its token and starts calling: every call from then on hangs.
    with knobs_once(simulator, lambda: simulator.counters.calls("stock") > 0, {"hang_rate": 1.0}) as went_down:
        code, _, err = sync(capsys, "--only", "stock")
    assert went_down.is_set()
    assert code == 1, err
    (line,) = step_lines(err)
    assert line.startswith("haier-pipeline sync: step stock_snapshots failed: ")
    assert "stock: no answer, ReadTimeout on " in line and "; check HAIER_BASE_URL and HAIER_TIMEOUT" in line
    # One round of timeouts trips it: more senders wait on it than the breaker's 12 calls (a second round: 4 s).
    over = re.search(r"consecutive calls over (\d+) s", line)
    assert over is not None and int(over.group(1)) <= 3, line
    # Without the breaker: every pair, 4 attempts each, then a second pass. With it: a few rounds of the senders.
    stock_calls = simulator.counters.calls("stock")
    assert stock_calls <= 4 * FAST_ANSWER_SENDERS < 4 * pairs, stock_calls
    (failed,) = failed_steps(warehouse)
    assert failed[0] == "stock_snapshots" and "stock: no answer, ReadTimeout on " in failed[1]
    assert contents(warehouse) == before


def test_api_down_from_the_start_costs_the_whole_sync_one_token_timeout(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HAIER_TIMEOUT", "1")
    simulator.config.update({"hang_rate": 1.0})
    code, _, err = sync(capsys, "--only", "products,balance,logistics")
    assert code == 1, err
    failed = {line.split()[3] for line in step_lines(err)}
    assert failed == {"products", "account_balances", "logistics_events"}, err
    assert all("token: no answer, ReadTimeout" in line for line in step_lines(err))
    # One token call waits out the timeout; the steps after it fail at once instead of waiting out their own.
    assert simulator.counters.calls("token") == 1


WRONG_PASSWORD = "wrong-password-5150"


@pytest.mark.parametrize(
    ("fault", "argv", "failing_steps", "vendor_says"),
    [
        # Every step that calls the API sends the (wrong) password: each one that runs is refused.
        ({"HAIER_PASSWORD": WRONG_PASSWORD}, [], {"products", "account_balances", "logistics_events"}, "约定密码错误"),
        ({"account_refusal": "合同已过期"}, ["--only", "stock"], {"stock_snapshots"}, "合同已过期"),
    ],
    ids=["wrong-password", "expired-contract"],
)
def test_a_refused_account_fails_the_cli_sync_at_once_naming_the_step_and_the_vendors_message(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, str],
    argv: list[str],
    failing_steps: set[str],
    vendor_says: str,
) -> None:
    assert sync(capsys, "--only", "products,stock")[0] == 0
    warehouse = cli_warehouse(cli_env)
    before = contents(warehouse)
    simulator.reset_counters()
    for name, value in fault.items():
        if name.startswith("HAIER_"):
            monkeypatch.setenv(name, value)  # the configured password no longer matches the vendor's
        else:
            simulator.config.update({name: value})
    code, out, err = sync(capsys, *argv)
    assert code == 1
    lines = step_lines(err)
    assert {line.split()[3] for line in lines} == failing_steps, err
    assert all(vendor_says in line for line in lines), err
    calls = simulator.counters.snapshot()["calls"]
    data_calls = sum(n for endpoint, n in calls.items() if endpoint != "token")
    # At once: the answers in flight when the first refusal arrived, never every pair (nor a retry of any).
    assert calls["products"] <= 1 and data_calls <= 2 * FAST_ANSWER_SENDERS < len(every_pair(simulator)), calls
    logged = failed_steps(warehouse)
    assert {step for step, message in logged if vendor_says in message} == failing_steps
    assert contents(warehouse) == before
    shown = "\n".join([out, err, *(message for _, message in logged)])
    assert not [secret for secret in (*SECRETS, WRONG_PASSWORD) if secret in shown]


def test_a_listing_hiding_most_products_is_blocked_and_changes_no_table(duckdb_pipeline: Pipeline) -> None:
    """The empty listing: `assets/test_pipeline.py::test_the_deactivation_guard_blocks_an_empty_listing`."""
    assert duckdb_pipeline.run(only=["products", "catalog"]).success
    before = contents(duckdb_pipeline.warehouse)
    products = len(duckdb_pipeline.simulator.dataset.codes)
    duckdb_pipeline.simulator.config.hidden_products = products // 2  # past HAIER_MAX_DEACTIVATE_RATIO (0.2)
    result = duckdb_pipeline.run(only=["products", "catalog"])
    assert not result.success
    (failure,) = duckdb_pipeline.failures(result)
    assert failure.step == "products" and "deactivation_guard" in failure.cause
    assert contents(duckdb_pipeline.warehouse) == before


def test_a_listing_that_is_one_page_of_more_fails_the_step_and_deactivates_nothing(duckdb_pipeline: Pipeline) -> None:
    """A gateway that pages: the first page alone would read as "the rest is no longer procurable"."""
    assert duckdb_pipeline.run(only=["products", "catalog"]).success
    before = contents(duckdb_pipeline.warehouse)
    listed = int(duckdb_pipeline.warehouse.query("SELECT count(*) AS n FROM {schema}.products")["n"].iloc[0])
    duckdb_pipeline.simulator.config.listing_page_size = listed - 1  # one product short: under the guard's 20 %
    result = duckdb_pipeline.run(only=["products", "catalog"])
    assert not result.success
    (failure,) = duckdb_pipeline.failures(result)
    assert failure.step == "products" and re.search(
        rf"one page of more \(total=\d+, {listed - 1} rows sent\)", failure.cause
    )
    assert contents(duckdb_pipeline.warehouse) == before


def test_postgres_killed_mid_write_fails_the_step_leaves_every_table_and_a_rerun_succeeds(
    postgres_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = postgres_pipeline
    steps = ["products", "catalog"]
    assert pipeline.run(only=steps).success
    before = contents(pipeline.warehouse)
    pipeline.simulator.config.hidden_products = 2  # the listing changes: the products step deactivates two
    append = WarehouseTransaction.append
    terminated: list[int] = []

    def append_after_postgres_killed_the_backend(self: WarehouseTransaction, table: str, frame: Any) -> int:
        # The step's sync_log row is its transaction's last write: the data is written, the commit not yet sent.
        if table == "sync_log" and not terminated:
            backend = int(self.query("SELECT pg_backend_pid() AS pid")["pid"].iloc[0])
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", [backend])
            terminated.append(backend)
        return append(self, table, frame)

    monkeypatch.setattr(WarehouseTransaction, "append", append_after_postgres_killed_the_backend)
    result = pipeline.run(only=steps)
    monkeypatch.undo()
    assert terminated, "the step's backend was killed inside its write transaction"
    assert not result.success
    (failure,) = pipeline.failures(result)
    assert failure.step == "products"
    # The cause names the warehouse, what Postgres said, and that the transaction was rolled back.
    assert "lost its connection to the warehouse postgres " in failure.cause, failure.cause
    assert "terminating connection due to administrator command" in failure.cause
    assert "nothing of it was written" in failure.cause
    assert contents(pipeline.warehouse) == before
    (failed,) = failed_steps(pipeline.warehouse)
    assert failed[0] == "products" and "terminating connection" in failed[1]

    result = pipeline.run(only=steps)
    assert result.success, pipeline.failures(result)
    hidden = set(pipeline.simulator.dataset.hidden_codes(2))
    inactive = pipeline.warehouse.query("SELECT product_code FROM {schema}.products WHERE NOT is_active")
    assert set(inactive["product_code"]) == hidden
    assert pipeline.counts()["catalog"] == len(before["catalog"]) - len(hidden)


def test_a_duckdb_file_held_by_another_process_fails_the_sync_naming_the_holder_and_changes_no_table(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock timeout and its message: `cli/test_process_edges.py::test_a_held_duckdb_file_fails_the_step_...`."""
    assert sync(capsys, "--only", "products,catalog")[0] == 0
    warehouse = cli_warehouse(cli_env)
    before = contents(warehouse)
    monkeypatch.setenv("HAIER_WAREHOUSE_LOCK_TIMEOUT", "1")
    warehouse_file = cli_env["HAIER_WAREHOUSE_URL"].removeprefix("duckdb:///")
    hold = f"import duckdb, time; c = duckdb.connect({warehouse_file!r}); print(1, flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline()
        code, _, err = sync(capsys, "--only", "products,stock")
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    (line,) = step_lines(err)
    assert line.startswith("haier-pipeline sync: step products failed: ") and f"pid {holder.pid}" in line.lower(), err
    assert "haier-pipeline sync: step stock_snapshots did not run: a step it depends on failed" in err
    assert contents(warehouse) == before


def test_a_full_disk_fails_the_step_in_one_line_a_lookup_still_answers_and_once_freed_the_sync_completes_the_day(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sync(capsys, "--only", "products")[0] == 0
    warehouse = cli_warehouse(cli_env)
    before = contents(warehouse)
    journal = journal_on_a_full_disk(Path(cli_env["HAIER_WAREHOUSE_URL"].removeprefix("duckdb:///")))
    code, _, err = sync(capsys, "--only", "stock")
    assert code == 1
    (line,) = step_lines(err)
    cause = "WarehouseStorageError: the warehouse file"
    assert line.startswith(f"haier-pipeline sync: step stock_snapshots failed: {cause}"), err
    assert "its disk is full" in line and "Free space on that disk" in line and "Traceback" not in err
    assert contents(warehouse) == before
    # A lookup still answers: only its cache could not be written.
    code, county = sorted(every_pair(simulator))[0]
    assert main(["query", "stock", code, county, "--json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert rows and {row["county_code"] for row in rows} == {county}
    assert err.startswith("(from the API; not cached: the warehouse file") and "its disk is full" in err, err
    journal.unlink()
    assert sync(capsys, "--only", "stock")[0] == 0
    assert stock_pairs(warehouse, today_in_shanghai()) == every_pair(simulator)


# ---- processes -------------------------------------------------------------------------------------------------


def process_env(cli_env: dict[str, str], base_url: str) -> dict[str, str]:
    """The environment of a `haier-pipeline` process: this test's, with the instance's storage created (two
    processes must not race to create it)."""
    Path(cli_env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        instance.get_runs()
    return {**os.environ, **cli_env, "HAIER_BASE_URL": base_url}


def stock_sync_in_a_process(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    **popen: Any,
) -> tuple[Warehouse, dict[str, Rows], subprocess.Popen[bytes]]:
    """A products and stock sync in this process, then `sync --only stock` in a process of its own, its answers
    slowed so that it can be stopped mid-way: the warehouse, its contents before, and that process."""
    assert sync(capsys, "--only", "products,stock")[0] == 0
    warehouse = cli_warehouse(cli_env)
    before = contents(warehouse)
    simulator.config.latency_ms = 20
    simulator.reset_counters()
    command = [HAIER_PIPELINE, "sync", "--only", "stock"]
    env = process_env(cli_env, simulator.base_url)
    return warehouse, before, subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, **popen)


def stock_sync_in_a_terminal(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Warehouse, dict[str, Rows], subprocess.Popen[bytes]]:
    """`stock_sync_in_a_process` as a terminal starts it: a process group of its own, which Ctrl-C reaches whole,
    on the project's dagster.yaml instance, as `make ui` and a sync from the project folder use it."""
    Path(cli_env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    write_instance_config(Path(cli_env["DAGSTER_HOME"]))
    return stock_sync_in_a_process(cli_env, simulator, tmp_path, capsys, stdout=subprocess.PIPE, start_new_session=True)


T = TypeVar("T")


def interrupt(victim: subprocess.Popen[bytes], sig: signal.Signals, after: Callable[[], T]) -> tuple[T, str]:
    """`sig` to the victim's whole process group once `after()` returns: what it returned, and the victim's stderr.
    The victim never outlives the test."""
    try:
        waited = after()
        os.killpg(victim.pid, sig)
        _, err = victim.communicate(timeout=60)
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)
    return waited, err.decode()


def wait_until_the_stock_step_calls(sync_process: subprocess.Popen[bytes], simulator: RunningSimulator) -> int:
    """Stock answers the simulator sent, once 20 are out (or a minute passed): the step is mid-way."""
    answered = 0
    deadline = time.monotonic() + 60
    while answered < 20 and time.monotonic() < deadline:
        assert sync_process.poll() is None, sync_process.stderr.read().decode() if sync_process.stderr else ""
        stats = requests.get(f"{simulator.base_url}/_sim/stats", timeout=5).json()
        answered = stats["statuses"].get("stock", {}).get("200", 0)
        time.sleep(0.02)
    return answered


def test_sigkill_mid_stock_step_leaves_the_warehouse_as_it_was_and_the_next_sync_succeeds(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse, before, victim = stock_sync_in_a_process(cli_env, simulator, tmp_path, capsys, stdout=subprocess.DEVNULL)
    try:
        answered = wait_until_the_stock_step_calls(victim, simulator)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    assert 20 <= answered < len(every_pair(simulator)), "killed while the stock step was calling"
    assert victim.returncode == -signal.SIGKILL
    assert contents(cli_warehouse(cli_env)) == before, "no partial stock day; the DuckDB file opens"

    # The next sync marks the dead run failed (automation/test_alerts.py::test_a_killed_cli_sync_is_marked_...).
    simulator.config.latency_ms = 0
    assert sync(capsys, "--only", "stock")[0] == 0
    assert stock_pairs(warehouse, today_in_shanghai()) == every_pair(simulator)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_mid_stock_step_exits_130_with_a_next_step_records_it_and_the_rerun_resumes(
    sig: signal.Signals,
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    enabled_at = time.time()
    warehouse, before, victim = stock_sync_in_a_terminal(cli_env, simulator, tmp_path, capsys)
    answered, stderr = interrupt(victim, sig, after=lambda: wait_until_the_stock_step_calls(victim, simulator))
    assert 20 <= answered < len(every_pair(simulator)), "interrupted while the stock step was calling"
    assert victim.returncode == 130, stderr
    assert "interrupted during stock_snapshots" in stderr and "Run the sync again" in stderr
    assert "Traceback" not in stderr, stderr
    assert contents(warehouse) == before, "no partial stock day"
    failed = warehouse.query("SELECT message FROM {schema}.sync_log WHERE status = 'failed'")
    assert list(failed["message"]) == [interrupted_message("stock_snapshots")]
    capsys.readouterr()
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        resources = {"warehouse": WarehouseResource(url=cli_env["HAIER_WAREHOUSE_URL"])}
        # Enabled before the sync started: its first tick alerts what failed since.
        context = dg.build_sensor_context(instance=instance, resources=resources, last_sensor_start_time=enabled_at)
        run_failure_alert_sensor(context)
    (alert,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ALERT haier-pipeline [")]
    assert alert.endswith(f": {interrupted_message('stock_snapshots')}"), "the alert said only the error's class"
    # Interrupted long before its first timed checkpoint (2 s), the step saved the answers it held on its way out.
    saved = int(warehouse.query("SELECT count(*) AS n FROM {schema}.stock_answers")["n"].iloc[0])
    assert saved >= answered - FAST_ANSWER_SENDERS, f"{answered} answered before the interrupt, {saved} saved"

    simulator.config.latency_ms = 0
    simulator.reset_counters()
    assert sync(capsys, "--only", "stock")[0] == 0
    assert stock_pairs(warehouse, today_in_shanghai()) == every_pair(simulator)
    assert simulator.counters.calls("stock") == len(every_pair(simulator)) - saved, "the rerun asks only the rest"


def stderr_lines(process: subprocess.Popen[bytes]) -> list[str]:
    """The process's stderr lines as they come, read by a thread of their own."""
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.decode("utf-8", "replace"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_a_sync_waiting_for_a_pool_slot_says_which_run_holds_it_and_stops_on_ctrl_c(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Dagster's own wait for a slot printed nothing, spun a core and ignored Ctrl-C and SIGTERM for good."""
    home = Path(cli_env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    write_instance_config(home)
    holder = dg.DagsterRun(job_name="__ephemeral_asset_job__", status=dg.DagsterRunStatus.STARTED)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_run(holder)
        instance.event_log_storage.initialize_concurrency_limit_to_default("haier_api")
        instance.event_log_storage.claim_concurrency_slot("haier_api", holder.run_id, "stock_snapshots")
    command = [HAIER_PIPELINE, "sync", "--only", "balance"]
    env = {**os.environ, **cli_env, "HAIER_BASE_URL": simulator.base_url}
    waiting = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, start_new_session=True)
    lines = stderr_lines(waiting)
    says = f"waiting for the haier_api pool (run {holder.run_id} (step stock_snapshots)) to finish"
    try:
        deadline = time.monotonic() + 60
        while not any(says in line for line in lines) and time.monotonic() < deadline:
            assert waiting.poll() is None, "".join(lines)
            time.sleep(0.05)
        os.killpg(waiting.pid, signal.SIGINT)
        waiting.wait(timeout=30)
    finally:
        if waiting.poll() is None:
            os.killpg(waiting.pid, signal.SIGKILL)
            waiting.wait(10)
    assert waiting.returncode == 130, "".join(lines)
    assert "Traceback" not in "".join(lines)
    assert simulator.counters.calls("balance") == 0

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.report_run_failed(instance.get_run_by_id(holder.run_id))  # the holder ended without freeing it
    code, _, err = sync(capsys, "--only", "balance")
    assert code == 0 and f"run {holder.run_id} had ended holding a pool slot: freed" in err


@pytest.mark.parametrize(("sig", "seconds"), [(signal.SIGINT, 0.3), (signal.SIGTERM, 1.0)])
def test_ctrl_c_or_sigterm_while_a_sync_starts_exits_130_in_one_line(
    sig: signal.Signals,
    seconds: float,
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The seconds before the first step (imports, the instance, the run's start) belong to no step. Where the
    signal lands depends on the machine's speed; wherever it lands, the outcome is the same."""
    warehouse, before, victim = stock_sync_in_a_terminal(cli_env, simulator, tmp_path, capsys)
    _, stderr = interrupt(victim, sig, after=lambda: time.sleep(seconds))
    assert victim.returncode == 130, stderr
    (line,) = stderr.splitlines()
    assert line.startswith("haier-pipeline") and "interrupted" in line, stderr
    assert contents(warehouse) == before


def test_two_concurrent_cli_syncs_both_succeed_sharing_one_rate_limit(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Two `haier-pipeline sync` processes started together (the steps that call the API most and write the most),
    into one DuckDB file, against a gateway in its own process that enforces 100 requests/s."""
    steps = ["products", "stock"]
    with gateway_process(rate=100) as base_url:
        requests.post(f"{base_url}/_sim/config", json={"products": 100}, timeout=5).raise_for_status()
        env = {**process_env(cli_env, base_url), "HAIER_COUNTY_CODES": "110101,310104"}
        command = [HAIER_PIPELINE, "sync", "--only", ",".join(steps)]
        syncs = [
            subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        finished = [process.communicate(timeout=120) for process in syncs]
        stats = requests.get(f"{base_url}/_sim/stats", timeout=5).json()
    assert [process.returncode for process in syncs] == [0, 0], [err for _, err in finished]
    answers = sum(sum(per.values()) for per in stats["statuses"].values())
    throttled = sum(per.get("429", 0) for per in stats["statuses"].values())
    assert throttled <= 0.01 * answers, stats["statuses"]
    warehouse = cli_warehouse(cli_env)
    # Both wrote the one file, queued on its lock: two runs, each with every step's row, every one a success.
    runs = warehouse.query("SELECT run_id, sync_type, status, started_at, completed_at FROM {schema}.sync_log")
    assert runs["run_id"].nunique() == 2 and set(runs["status"]) == {"success"}
    assert runs.groupby("run_id")["sync_type"].nunique().tolist() == [2, 2]
    spans = runs.groupby("run_id").agg(first=("started_at", "min"), last=("completed_at", "max"))
    assert spans["first"].max() < spans["last"].min(), "the two runs overlapped"
    pairs = stock_pairs(warehouse, today_in_shanghai())
    assert len(pairs) > 100 and stats["calls"]["stock"] >= 2 * len(pairs)


@pytest.mark.parametrize("command", ["sync", "check"])
def test_plain_http_to_a_remote_host_stops_the_command_before_any_connection(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.setenv("HAIER_TIMEOUT", "1")  # should the rule ever regress: a short wait, then a failed assertion
    monkeypatch.setenv("HAIER_BASE_URL", "http://10.255.255.1")
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "HAIER_BASE_URL='http://10.255.255.1'" in err and "HAIER_ALLOW_INSECURE_HTTP=1" in err
    assert not [secret for secret in SECRETS if secret in err]
    address = non_loopback_address()
    if address is None:
        return
    with start_simulator(simulator_config(), host="0.0.0.0") as listening:  # a host that would answer
        monkeypatch.setenv("HAIER_BASE_URL", f"http://{address}:{listening.port}")
        assert main([command]) == 2
        assert "HAIER_ALLOW_INSECURE_HTTP=1" in capsys.readouterr().err
        assert listening.counters.snapshot()["total_requests"] == 0, "the secret never left"


# ---- the README's promise ----------------------------------------------------------------------------------------


def test_every_row_of_the_readme_reliability_table_names_tests_that_exist() -> None:
    tests = Path(__file__).resolve().parents[1]
    readme = (tests.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Reliability\n", 1)[1]
    table = section[section.index("\n| fault | outcome | tests |") :].strip().split("\n\n", 1)[0]
    rows = table.splitlines()[2:]  # after the header and its rule
    named = [re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)`", row.rsplit(" | ", 1)[-1]) for row in rows]
    defined = {
        name for path in tests.rglob("test_*.py") for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.M)
    }
    assert len(rows) >= 16 and all(named), "every fault names the tests that back it"
    assert sorted({name for names in named for name in names} - defined) == [], "the README names missing tests"
