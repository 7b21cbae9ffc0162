"""`haier-pipeline demo`: the bundled simulator, then the same sync as production, then a summary."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from haier_pipeline.cli.exit_codes import EXIT_CONFIG, EXIT_OK
from haier_pipeline.cli.simulator import LATENCY_MS, PRODUCTS
from haier_pipeline.cli.sync import sync
from haier_pipeline.settings import (
    DEFAULT_COUNTIES_FILE,
    DEFAULT_ORDERS_FILE,
    DEFAULT_WAREHOUSE_URL,
    load_dotenv_file,
    load_settings,
)
from haier_pipeline.shanghai_time import today_in_shanghai
from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import mask_url, parse_warehouse_url
from haier_pipeline.warehouse.warehouse import Warehouse

DEMO_WAREHOUSE = DEFAULT_WAREHOUSE_URL.removeprefix("duckdb:///")
DEMO_QUERY = (
    "SELECT product_code, product_model, brand, supply_price, total_stock, counties_in_stock "
    "FROM haier.catalog WHERE is_sales ORDER BY total_stock DESC NULLS LAST LIMIT 10"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--products", type=PRODUCTS, default=120, help="products in the simulated catalog")
    parser.add_argument("--latency-ms", type=LATENCY_MS, default=30.0, help="simulated API latency")


def demo_warehouse_refusal(environment: Mapping[str, str]) -> str | None:
    """Simulated rows must never land beside real ones: when this folder's configuration points at the real API
    and keeps its warehouse in the demo's file, the demo refuses."""
    base_url = environment.get("HAIER_BASE_URL")
    if not base_url:
        return None
    configured = environment.get("HAIER_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL
    try:
        same_file = parse_warehouse_url(configured).path == parse_warehouse_url(DEFAULT_WAREHOUSE_URL).path
    except WarehouseConfigError:
        return None  # not the demo's file; `check` names what is wrong with it
    if not same_file:
        return None
    return (
        f"this folder is configured for a real API (HAIER_BASE_URL={base_url}) and keeps its warehouse in "
        f"{DEMO_WAREHOUSE}, the demo's file: simulated rows would be mixed into it. Run the demo from another "
        "folder, or give the real warehouse its own HAIER_WAREHOUSE_URL."
    )


def simulator_environment(base_url: str, config: SimulatorConfig) -> dict[str, str]:
    return {
        "HAIER_BASE_URL": base_url,
        "HAIER_CLIENT_ID": config.client_id,
        "HAIER_CLIENT_SECRET": config.client_secret,
        "HAIER_CUSTOMER_CODE": config.customer_code,
        "HAIER_SEND_TO_CODE": config.send_to_code,
        "HAIER_PASSWORD": config.password,
        "HAIER_CUSTOMER_PASSWORD": config.customer_password,
        "HAIER_SELLER_PASSWORD": config.customer_password,
    }


def run(args: argparse.Namespace) -> int:
    # Imported here: the simulator's web server (starlette, uvicorn) would cost every other command's start-up.
    from haier_pipeline.simulator import start_simulator

    load_dotenv_file()
    if refusal := demo_warehouse_refusal(os.environ):
        print(f"haier-pipeline demo: {refusal}", file=sys.stderr)
        return EXIT_CONFIG
    started = time.monotonic()
    config = SimulatorConfig(
        products=args.products,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_ms / 5,
        rate_limit=100,
    )
    with start_simulator(config) as simulator:
        environment = {
            **{key: value for key, value in os.environ.items() if key.startswith("HAIER_")},
            **simulator_environment(simulator.base_url, config),
        }
        if os.environ.get("HAIER_WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL) != DEFAULT_WAREHOUSE_URL:
            print(f"the demo writes {DEMO_WAREHOUSE}, never HAIER_WAREHOUSE_URL (that is for the real API)")
        environment["HAIER_WAREHOUSE_URL"] = DEFAULT_WAREHOUSE_URL
        if not environment.get("HAIER_COUNTY_CODES") and not Path(DEFAULT_COUNTIES_FILE).exists():
            environment["HAIER_COUNTY_CODES"] = ",".join(config.counties)
        orders = Path(environment.get("HAIER_ORDERS_FILE") or DEFAULT_ORDERS_FILE)
        if not orders.exists():
            orders.parent.mkdir(parents=True, exist_ok=True)
            orders.write_text("order_code\n" + "".join(f"{code}\n" for code in simulator.dataset.order_codes))
            print(f"created {orders} with the simulator's orders")
        settings = load_settings(environment)
        print(
            f"simulator: {simulator.base_url} ({args.products} products, {args.latency_ms:.0f} ms latency, "
            f"100 requests/s)"
        )
        print(f"sync: every asset, stock for {today_in_shanghai()} (Asia/Shanghai)")
        code = sync(settings, None, source="demo")
        calls = simulator.counters.snapshot()
    warehouse = Warehouse.from_url(settings.warehouse_url)
    print("\nrows per table:")
    for table, rows in warehouse.table_counts().items():
        print(f"  {table:<18} {rows:>7}")
    throttled = sum(statuses.get("429", 0) for statuses in calls["statuses"].values())
    print(f"\nAPI calls: {calls['total_requests']} (throttled {throttled}, busiest second {calls['busiest_second']})")
    print(f"time: {time.monotonic() - started:.1f} s")
    print(f"data: {warehouse.describe()}")
    if warehouse.path is not None:
        print(
            f"try:  .venv/bin/python -c \"import duckdb; c = duckdb.connect('{warehouse.path}', read_only=True); "
            f"c.sql('{DEMO_QUERY}').show()\""
        )
    else:
        print(f'try:  psql "{mask_url(settings.warehouse_url)}" -c "{DEMO_QUERY}"')
    print("UI:   make ui   (http://127.0.0.1:3000: assets, checks, and this run)")
    return code if code != EXIT_OK else EXIT_OK
