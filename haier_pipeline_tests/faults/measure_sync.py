"""The pipeline-under-fire figures: full `haier-pipeline sync` runs (the console script, each in its own process)
against the simulator in its own process, measured by hand (not collected by pytest):

    .venv/bin/python -m haier_pipeline_tests.faults.measure_sync [churn] [storm] [down] [stock-down] [concurrent]

- churn: tokens revoked every 0.5 s during a full sync (60 products x 4 counties);
- storm: 15 % random 429s (Retry-After 1 s) + 5 % 503s + 5 % garbled 200s during a full sync (130 x 4);
- down: every call hangs from the start, at the default HAIER_TIMEOUT of 30 s (about 1.5 minutes);
- stock-down: every call hangs from the moment the stock step starts calling, at the default 30 s (60 x 4);
- concurrent: two full syncs started together, one account, a gateway enforcing 100 requests/s (300 x 4 each).

Each line reports the exit code, the time, the stock pairs delivered of those asked (from the warehouse), and the
gateway's answers by status.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from haier_pipeline.endpoints.products import ACTIVE_PROCURABLE
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.faults.test_client_faults import gateway_process
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS

COUNTIES = ("110101", "310104", "440106", "510107")
HAIER_PIPELINE = str(Path(sys.executable).with_name("haier-pipeline"))


@dataclass(frozen=True)
class Workspace:
    """One user's setup: a Dagster instance, a DuckDB warehouse, an orders file, all in a fresh folder."""

    folder: Path
    base_url: str

    @property
    def warehouse_url(self) -> str:
        return f"duckdb:///{self.folder / 'warehouse.duckdb'}"

    def env(self, **extra: str) -> dict[str, str]:
        orders = self.folder / "orders.csv"
        orders.write_text("order_code\nSO.20190106.000003\n", encoding="utf-8")
        home = self.folder / "dagster_home"
        home.mkdir(exist_ok=True)
        return {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "HAIER_BASE_URL": self.base_url,
            "HAIER_CLIENT_ID": SIMULATOR_CREDENTIALS["client_id"],
            "HAIER_CLIENT_SECRET": SIMULATOR_CREDENTIALS["client_secret"],
            "HAIER_CUSTOMER_CODE": SIMULATOR_CREDENTIALS["customer_code"],
            "HAIER_PASSWORD": SIMULATOR_CREDENTIALS["password"],
            "HAIER_COUNTY_CODES": ",".join(COUNTIES),
            "HAIER_WAREHOUSE_URL": self.warehouse_url,
            "HAIER_ORDERS_FILE": str(orders),
            **extra,
        }

    def pairs(self) -> str:
        """Stock pairs delivered today, of those the stock step had to ask."""
        warehouse = Warehouse.from_url(self.warehouse_url)
        asked = len(warehouse.query(ACTIVE_PROCURABLE)) * len(COUNTIES)
        delivered = warehouse.query(
            "SELECT count(DISTINCT product_code || '/' || county_code) AS n FROM {schema}.stock_snapshots "
            "WHERE snapshot_date = :day",
            {"day": today_in_shanghai()},
        )
        return f"{int(delivered['n'].iloc[0])} of {asked} pairs delivered"


@contextmanager
def gateway(products: int, rate: float | None = None, **knobs: Any) -> Iterator[str]:
    """The simulator in its own process; `rate` None: no rate limit of its own."""
    with gateway_process(rate or 1_000_000) as base_url:
        configure(base_url, products=products, latency_ms=20, rate_limit=rate, **knobs)
        yield base_url


def configure(base_url: str, **knobs: Any) -> None:
    requests.post(f"{base_url}/_sim/config", json=knobs, timeout=5).raise_for_status()


def answers(base_url: str) -> dict[str, dict[str, int]]:
    return requests.get(f"{base_url}/_sim/stats", timeout=5).json()["statuses"]


def sync(workspace: Workspace, **extra: str) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run([HAIER_PIPELINE, "sync"], env=workspace.env(**extra), capture_output=True, text=True)
    errors = [line for line in done.stderr.splitlines() if line.startswith("haier-pipeline sync:")]
    return done.returncode, time.monotonic() - started, " | ".join(errors)


def full_sync_under(label: str, products: int, knobs: dict[str, Any]) -> str:
    with gateway(products) as base_url, tempfile.TemporaryDirectory() as folder:
        workspace = Workspace(Path(folder), base_url)
        configure(base_url, **knobs)
        code, elapsed, errors = sync(workspace)
        return (
            f"{label}: exit {code} in {elapsed:.1f} s; {workspace.pairs()}; stock answers "
            f"{answers(base_url).get('stock')}" + (f"; {errors}" if errors else "")
        )


def churn() -> str:
    return full_sync_under("full sync, tokens revoked every 0.5 s", 60, {"token_revoke_every": 0.5})


def storm() -> str:
    knobs = {"throttle_rate": 0.15, "fault_rate": 0.1, "retry_after": 1.0}  # fault_rate 0.1: 5 % 503s + 5 % garbled
    return full_sync_under("full sync, 15 % random 429 + 5 % 503 + 5 % garbled", 130, knobs)


def down() -> str:
    return full_sync_under("full sync, the API down from the start, HAIER_TIMEOUT 30 s", 60, {"hang_rate": 1.0})


def stock_down() -> str:
    """The API goes down once the stock step starts calling (the token and the listing were answered)."""
    with gateway(60) as base_url, tempfile.TemporaryDirectory() as folder:
        workspace = Workspace(Path(folder), base_url)
        went_down: list[float] = []

        def watch() -> None:
            while not answers(base_url).get("stock"):
                time.sleep(0.01)
            configure(base_url, hang_rate=1.0)
            went_down.append(time.monotonic())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code, _, errors = sync(workspace)
        ended = time.monotonic()
        after = ended - went_down[0] if went_down else float("nan")
        return (
            f"full sync, the API down once stock calls began, HAIER_TIMEOUT 30 s: exit {code}, "
            f"{after:.1f} s after the API went down; {errors}"
        )


def concurrent(products: int = 300, rate: float = 100) -> str:
    with gateway(products, rate=rate) as base_url, tempfile.TemporaryDirectory() as folder:
        workspace = Workspace(Path(folder), base_url)
        env = workspace.env()
        subprocess.run([sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().get_runs()"], env=env)
        started = time.monotonic()
        syncs = [
            subprocess.Popen([HAIER_PIPELINE, "sync"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        codes = [process.wait() for process in syncs]
        elapsed = time.monotonic() - started
        statuses = answers(base_url)
        total = sum(sum(per.values()) for per in statuses.values())
        throttled = sum(per.get("429", 0) for per in statuses.values())
        return (
            f"two full syncs at once, {products} products x {len(COUNTIES)} counties each, gateway at {rate:.0f}/s: "
            f"exits {codes} in {elapsed:.1f} s; {throttled} of {total} answers throttled "
            f"({100 * throttled / total:.2f} %); {workspace.pairs()} (both runs wrote the same day)"
        )


MEASURES = {"churn": churn, "storm": storm, "down": down, "stock-down": stock_down, "concurrent": concurrent}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(MEASURES):
        print(MEASURES[name](), flush=True)
