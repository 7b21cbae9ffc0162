"""`haier-pipeline sync`: materialize the selection through Dagster, on the instance the UI reads."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, ExecuteInProcessResult

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.cli.accounts import add_account_argument, chosen_accounts, default_at_once, sync_side_by_side
from haier_pipeline.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNANSWERED
from haier_pipeline.cli.runs import pools_of, run_assets, selected_assets, steps_not_run, unknown_steps
from haier_pipeline.cli.startup import resume_garbage_collection
from haier_pipeline.cli.timings import SyncTimings
from haier_pipeline.config_files import orders_file_problem
from haier_pipeline.defs.alerts.audit import record_dead_runs
from haier_pipeline.defs.haier_catalog.stock.day import STOCK_DAY_TAG
from haier_pipeline.defs.outcomes import STOCK_RESUMES, UNANSWERED_TAG, asset_of, step_failures
from haier_pipeline.defs.resources import resources_from_settings, warehouse_resource
from haier_pipeline.endpoints import endpoint, steps
from haier_pipeline.endpoints.declaration import FromOrdersFile, StockDay
from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.instance import (
    free_slots_of_finished_runs,
    instance_for_warehouse,
    mark_dead_runs,
    process_tags,
    wait_for_pools,
)
from haier_pipeline.settings import Settings, load_settings
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.warehouse.errors import WarehouseError, WarehouseUnavailableError
from haier_pipeline.warehouse.reachability import reachability_error
from haier_pipeline.warehouse.url import mask_url, warehouse_label
from haier_pipeline.warehouse.warehouse import Warehouse


def steps_argument(raw: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no step given; choose from {','.join(steps())}")
    if unknown := unknown_steps(names):
        what = "unknown step" if len(unknown) == 1 else "unknown steps"
        raise argparse.ArgumentTypeError(f"{what} {', '.join(map(repr, unknown))}; choose from {','.join(steps())}")
    return names


def stock_date_argument(raw: str) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date: use YYYY-MM-DD") from None
    today = today_in_shanghai()
    if day != today:
        raise argparse.ArgumentTypeError(
            f"{raw}: stock can be recorded only for today ({today}, Asia/Shanghai); the API answers current "
            "stock only. Past days stay in stock_snapshots as they were recorded."
        )
    return day


def positive_integer(raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of 1 or more")
    return int(raw)


def timings_file_argument(raw: str) -> Path:
    """Checked before the run: a path the timings cannot be written to would fail the command after the sync. Its
    folder must exist: a typo in it is an argument error, not a folder quietly created."""
    path = Path(raw)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{raw} is a folder; name a file in it, e.g. {path / 'timings.json'}")
    folder = path.parent
    if not folder.is_dir():
        existing = next((parent for parent in path.parents if parent.exists()), None)
        if existing is not None and not existing.is_dir():
            raise argparse.ArgumentTypeError(f"{existing} is a file, not a folder; name a file in a folder")
        raise argparse.ArgumentTypeError(
            f"{raw}: the folder {folder} does not exist; create it first (mkdir -p {folder}), or name a file in an "
            "existing folder"
        )
    if problem := unwritable(path):
        raise argparse.ArgumentTypeError(
            f"{raw} cannot be written ({problem}); name a file in a folder you can write to, e.g. timings.json"
        )
    return path


def unwritable(path: Path) -> str | None:
    """Why `path` (in an existing folder) cannot be written, found by trying: permission bits miss a read-only mount,
    and root passes them all. Leaves behind no file that was not there."""
    try:
        if path.exists():
            with path.open("a"):  # opened to append and closed: the file is unchanged
                pass
        else:
            with path.open("x"):
                pass
            path.unlink()
    except OSError as error:
        return error.strerror or str(error)
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        metavar="STEPS",
        type=steps_argument,
        # extend: `--only stock --only prices` runs both; the default "store" silently kept the last one only.
        action="extend",
        help=f"comma-separated steps to run (default: all; may be repeated): {','.join(steps())}",
    )
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        type=stock_date_argument,
        help="the stock day: only today (Asia/Shanghai) is accepted, the API answers current stock only",
    )
    add_account_argument(parser, repeatable=True)
    parser.add_argument(
        "--accounts-at-once",
        metavar="N",
        type=positive_integer,
        help="accounts synced at the same time, each in its own process; the others wait their turn (default: twice "
        "the CPU cores, about what keeps each account at its rate limit)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print Dagster's event log as it runs")
    parser.add_argument(
        "--timings",
        metavar="FILE",
        type=timings_file_argument,
        help="write where the time went as JSON: each step's API phase, every warehouse operation, the run's start "
        "and end (what `make bench` splits a sync with)",
    )


def preflight(settings: Settings, *, orders: bool, warehouse: bool = True) -> None:
    """What a run would otherwise fail on halfway, the orders file and the warehouse: every problem named at once,
    before any call (`check` asks it too). What the user must fix is a configuration error (exit 2); a warehouse that
    did not answer, and nothing else wrong, is an operational failure (exit 1): a scheduled sync then reads as
    "Postgres is down", not as a misconfiguration."""
    problems = [orders and orders_file_problem(settings.orders_file)]
    error = reachability_error(settings.warehouse_url) if warehouse else None
    problems.append(str(error) if error is not None else None)
    found = [problem for problem in problems if problem]
    if isinstance(error, WarehouseUnavailableError) and len(found) == 1:
        raise error
    if found:
        raise HaierConfigurationError(found)


def sync(
    settings: Settings,
    only: list[str] | None,
    day: date | None = None,
    source: str = "cli",
    verbose: bool = False,
    timings_file: Path | None = None,
    account: str = DEFAULT_ACCOUNT,
) -> int:
    """Run the selection for one account and report each step; returns the exit code."""
    timings = SyncTimings(timings_file)
    assets = selected_assets(only)
    selected = [endpoint(name) for name in assets]
    orders = any(isinstance(declared.items, FromOrdersFile) for declared in selected)
    preflight(settings.account(account), orders=orders)
    # The instance of this warehouse: the project's, or that warehouse's own (the UI never mixes two warehouses' runs).
    instance = instance_for_warehouse(
        warehouse_label(settings.warehouse_url), lambda line: print(line, file=sys.stderr)
    )
    if dead := mark_dead_runs(instance):
        for run_id in dead:
            print(f"run {run_id} had lost its process (killed?): marked failed", file=sys.stderr)
        try:
            record_dead_runs(instance, warehouse_resource(settings).get_warehouse(), dead)
        except WarehouseError as error:  # bookkeeping: the sync itself still runs, and fails there if it must
            print(f"  (their sync_log rows were not written: {mask_url(str(error)).splitlines()[0]})", file=sys.stderr)
    pools = pools_of(assets, account)
    for run_id in free_slots_of_finished_runs(instance, pools):
        print(f"run {run_id} had ended holding a pool slot: freed", file=sys.stderr)
    wait_for_pools(instance, pools, lambda message: print(message, file=sys.stderr))
    tags = {"haier/source": source, **process_tags()}
    if any(isinstance(declared.write, StockDay) for declared in selected):
        tags[STOCK_DAY_TAG] = (day or today_in_shanghai()).isoformat()
    resume_garbage_collection()  # the run's own garbage is collected as usual, so memory stays bounded
    started = time.monotonic()
    timings.mark("run_started")
    result = run_assets(
        assets,
        resources_from_settings(settings, account),
        instance=instance,
        tags=tags,
        console_log_level="DEBUG" if verbose else "CRITICAL",
        account=account,
    )
    timings.mark("run_finished")
    elapsed = time.monotonic() - started
    quarantined = f"SELECT asset, reason, payload FROM haier.rejected_rows WHERE run_id = '{result.run_id}'"
    written = print_summary(settings, result.run_id, quarantined)
    of_account = "" if account == DEFAULT_ACCOUNT else f"account {account}, "
    print(f"run {result.run_id} ({of_account}{elapsed:.1f} s) — the Dagster UI shows its full log")
    command = "demo" if source == "demo" else "sync"
    exit_code = outcome(instance, result, assets, quarantined, command=command, written=written)
    timings.write(result.run_id, exit_code, result)
    return exit_code


def outcome(
    instance: DagsterInstance,
    result: ExecuteInProcessResult,
    assets: list[str],
    quarantined: str,
    command: str,
    written: set[str] | None = None,
) -> int:
    """The exit code, with what went wrong on stderr, in the words of the command that ran the sync. `written`: the
    steps whose data this run committed (their success or partial row in sync_log), when the summary could read it."""
    if not result.success:
        failures = step_failures(result)
        if any(failure.interrupted for failure in failures) or (not failures and run_was_interrupted(result)):
            interrupted = [asset_of(failure.step) for failure in failures if failure.interrupted]
            print(interruption_message(command, interrupted, written or set()), file=sys.stderr)
            return EXIT_INTERRUPTED
        for failure in failures:
            print(f"haier-pipeline {command}: step {asset_of(failure.step)} failed: {failure.cause}", file=sys.stderr)
        for step in steps_not_run(result, assets):
            print(f"haier-pipeline {command}: step {step} did not run: a step it depends on failed", file=sys.stderr)
        return EXIT_FAILED
    run = instance.get_run_by_id(result.run_id)
    unanswered = run.tags.get(UNANSWERED_TAG) if run is not None else None
    if unanswered:
        print(
            f"haier-pipeline {command}: finished, but {unanswered} items went unanswered; see rejected_rows: "
            f"{quarantined}",
            file=sys.stderr,
        )
        return EXIT_UNANSWERED
    return EXIT_OK


def run_was_interrupted(result: ExecuteInProcessResult) -> bool:
    """A run that failed outside its steps because of Ctrl-C or SIGTERM (it landed after the last step ended)."""
    return any(
        event.event_type == DagsterEventType.RUN_FAILURE and "interrupted" in (event.message or "")
        for event in result.all_events
    )


def interruption_message(command: str, interrupted: list[str], written: set[str]) -> str:
    """What an interrupt cost, in one line: the steps it interrupted (one step, or several), whether any of them had
    already committed its data, and what to do. The stock advice only when stock lost answers: the step that
    resumes."""
    name = f"haier-pipeline {command}"
    if not interrupted:
        return f"{name}: interrupted after its steps had finished; what they did was written."
    lost = [step for step in interrupted if step not in written]
    kept = [step for step in interrupted if step in written]
    parts = [f"{name}: interrupted during {', '.join(interrupted)}"]
    if lost and kept:
        parts.append(f"what {', '.join(lost)} did was not written")
    elif lost:
        parts.append("what that step did was not written" if len(lost) == 1 else "what those steps did was not written")
    if kept:
        its = "its" if len(kept) == 1 else "their"
        parts.append(f"{', '.join(kept)} had already written {its} data")
    again = f"Run the {command} again"
    if any(isinstance(endpoint(asset_of(step)).write, StockDay) for step in lost):
        again += f": {STOCK_RESUMES}"
    return "; ".join(parts) + f". {again}."


def open_warehouse(settings: Settings) -> Warehouse:
    timeout = settings.warehouse_lock_timeout
    return Warehouse.from_url(settings.warehouse_url, lock_timeout=timeout, read_timeout=timeout)


def print_summary(settings: Settings, run_id: str, quarantined: str) -> set[str]:
    """Each step's sync_log row; returns the steps whose data the run committed (a success or partial row). Best
    effort: when the warehouse itself is the problem (held, unreachable), the run's outcome below still says what
    failed."""
    try:
        log = open_warehouse(settings).query(
            "SELECT sync_type, status, total_count, success_count, failed_count, api_calls, retries, message "
            "FROM {schema}.sync_log WHERE run_id = :run_id ORDER BY completed_at",
            {"run_id": run_id},
        )
    except Exception as error:  # the summary must not hide the run's own outcome behind a traceback
        print(f"  (no step summary: the warehouse could not be read: {mask_url(str(error)).splitlines()[0]})")
        return set()
    for row in log.itertuples(index=False):
        print(
            f"  {row.sync_type:<18} {row.status:<8} {row.success_count:>7} loaded  {row.failed_count:>5} rejected  "
            f"{row.api_calls:>6} calls  {row.message}"
        )
    # A failed step quarantines nothing (its refusals are in the run's log), so only finished steps count here.
    rejected = int(log.loc[log["status"] != "failed", "failed_count"].sum()) if len(log) else 0
    if rejected:
        print(f"{rejected} rows quarantined, with their reasons: {quarantined}")
    return set(log.loc[log["status"] != "failed", "sync_type"])


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    accounts = chosen_accounts(settings, args.account)
    if len(accounts) > 1:
        return sync_side_by_side(accounts, child_arguments(args), args.accounts_at_once or default_at_once())
    return sync(settings, args.only, args.date, verbose=args.verbose, timings_file=args.timings, account=accounts[0])


def child_arguments(args: argparse.Namespace) -> Callable[[str], list[str]]:
    """The `sync` arguments of one account's process: this command's, for that account alone."""

    def arguments(account: str) -> list[str]:
        found = ["sync", "--account", account]
        if args.only:
            found += ["--only", ",".join(args.only)]
        if args.date:
            found += ["--date", args.date.isoformat()]
        if args.verbose:
            found.append("--verbose")
        if args.timings:
            found += ["--timings", str(args.timings.with_suffix(f".{account}{args.timings.suffix}"))]
        return found

    return arguments


__all__ = ["run", "steps_argument", "stock_date_argument", "sync"]
