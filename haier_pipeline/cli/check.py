"""`haier-pipeline check`: everything `sync` needs, in the order it needs it: the configuration (printed with every
secret masked), the counties and orders files, the warehouse, then the token and one call per password (balance,
the product listing, one stock pair)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from haier_pipeline.cli.main import EXIT_OK
from haier_pipeline.cli.sync import open_warehouse, preflight
from haier_pipeline.config_files import columns_not_read
from haier_pipeline.resources import client_from_settings
from haier_pipeline.settings import DEFAULT_COUNTIES_FILE, load_settings
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import mask_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-warehouse", action="store_true", help="skip opening the warehouse")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    print("configuration:")
    for name, value in settings.masked().items():
        print(f"  {name:<22} {value}")
    preflight(settings, orders=True, warehouse=not args.no_warehouse)
    counties_file = Path(DEFAULT_COUNTIES_FILE) if settings.counties_from_file else None
    notes = columns_not_read(counties_file, settings.orders_file)
    print(f"files:     ok ({len(settings.county_codes)} counties, orders in {settings.orders_file}{notes})")
    if not args.no_warehouse:
        warehouse = open_warehouse(settings)
        # A check changes nothing: it reads what the warehouse lacks, and the next sync creates or adds it.
        if warehouse.path is not None and not warehouse.path.exists():
            # The preflight above showed the file can be created.
            print(f"warehouse: ok ({warehouse.path} does not exist yet: the first sync creates it)")
        else:
            upgrade = warehouse.pending_upgrade()
            if upgrade.privilege_problem:
                # Postgres: a role that could not run the upgrade, or use the tables, would fail every step of sync.
                raise WarehouseConfigError(f"warehouse {warehouse.describe()}: {upgrade.privilege_problem}")
            print(f"warehouse: ok ({warehouse.describe()}; {upgrade.describe()})")
    client = client_from_settings(settings)
    started = time.monotonic()
    client.token()
    served_by = mask_url(client.token_served_by or client.resolved_token_url)
    print(f"token:     ok ({(time.monotonic() - started) * 1000:.0f} ms from {served_by})")
    started = time.monotonic()
    balances = client.balance()
    print(f"api:       ok (balance: {len(balances)} sales organisations, {(time.monotonic() - started) * 1000:.0f} ms)")
    # Each endpoint takes its own password (haier-api.md): one call for each, so a wrong one fails here, not in
    # the middle of a sync.
    listed = [row for row in client.products() if isinstance(row, dict) and row.get("productCode")]
    # Products, as sync counts them: a code listed twice is one product.
    products = len({str(row["productCode"]).strip() for row in listed})
    print(f"products:  ok ({products} listed: HAIER_PASSWORD accepted)")
    if listed and settings.county_codes:
        code, county = str(listed[0]["productCode"]), settings.county_codes[0]
        client.stock(code, county)
        print(f"stock:     ok ({code} in {county}: HAIER_SELLER_PASSWORD accepted)")
    return EXIT_OK
