"""`haier-pipeline sync`: materialize the selection through Dagster, on the instance the UI reads."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from haier_pipeline.assets.common import STOCK_START_DATE
from haier_pipeline.cli.main import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.instance import project_instance
from haier_pipeline.resources import resources_from_settings
from haier_pipeline.runner import STEPS, run_assets, selected_assets, step_failures
from haier_pipeline.settings import Settings, load_settings
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.warehouse import Warehouse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", metavar="STEPS", help=f"comma-separated steps to run (default: all): {','.join(STEPS)}"
    )
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the stock partition (default: today in Asia/Shanghai)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print Dagster's event log as it runs")


def partition_day(raw: str | None) -> date:
    if raw is None:
        return today_in_shanghai()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise HaierConfigurationError([f"--date {raw!r} is not a date: use YYYY-MM-DD"]) from None
    if not date.fromisoformat(STOCK_START_DATE) <= day <= today_in_shanghai():
        raise HaierConfigurationError(
            [
                f"--date {raw}: stock partitions run from {STOCK_START_DATE} to today ({today_in_shanghai()}, "
                "Asia/Shanghai); the API cannot answer for the future"
            ]
        )
    return day


def sync(settings: Settings, only: list[str] | None, day: date, source: str = "cli", verbose: bool = False) -> int:
    """Run the selection and report each step; returns the exit code."""
    assets = selected_assets(only)
    instance = project_instance()
    started = time.monotonic()
    result = run_assets(
        assets,
        resources_from_settings(settings),
        day.isoformat(),
        instance=instance,
        tags={"haier/source": source},
        console_log_level="DEBUG" if verbose else "CRITICAL",
    )
    elapsed = time.monotonic() - started
    warehouse = Warehouse.from_url(settings.warehouse_url)
    log = warehouse.query(
        "SELECT sync_type, status, total_count, success_count, failed_count, api_calls, retries, message "
        "FROM {schema}.sync_log WHERE run_id = :run_id ORDER BY completed_at",
        {"run_id": result.run_id},
    )
    for row in log.itertuples(index=False):
        print(
            f"  {row.sync_type:<18} {row.status:<8} {row.success_count:>7} loaded  {row.failed_count:>5} rejected  "
            f"{row.api_calls:>6} calls  {row.message}"
        )
    print(f"run {result.run_id} ({elapsed:.1f} s) — the Dagster UI shows its full log")
    rejected = int(log["failed_count"].sum()) if len(log) else 0
    if rejected:
        print(
            f"{rejected} rows quarantined, with their reasons: "
            f"SELECT asset, reason, payload FROM haier.rejected_rows WHERE run_id = '{result.run_id}'"
        )
    if result.success:
        return EXIT_OK
    for failure in step_failures(result):
        print(f"haier-pipeline sync: step {failure.step} failed: {failure.cause}", file=sys.stderr)
    return EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    return sync(settings, only, partition_day(args.date), verbose=args.verbose)


__all__ = ["EXIT_CONFIG", "partition_day", "run", "sync"]
