"""`haier-pipeline check`: configuration with secrets masked, then the token, then one cheap call."""

from __future__ import annotations

import argparse
import time

from haier_pipeline.cli.main import EXIT_OK
from haier_pipeline.resources import client_from_settings
from haier_pipeline.settings import load_settings
from haier_pipeline.warehouse import Warehouse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-warehouse", action="store_true", help="skip opening the warehouse")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    print("configuration:")
    for name, value in settings.masked().items():
        print(f"  {name:<22} {value}")
    client = client_from_settings(settings)
    started = time.monotonic()
    client.token()
    print(f"token:     ok ({(time.monotonic() - started) * 1000:.0f} ms from {settings.token_url})")
    started = time.monotonic()
    balances = client.balance()
    print(f"api:       ok (balance: {len(balances)} sales organisations, {(time.monotonic() - started) * 1000:.0f} ms)")
    if not args.no_warehouse:
        warehouse = Warehouse.from_url(settings.warehouse_url)
        warehouse.ensure_schema()
        print(f"warehouse: ok ({warehouse.describe()})")
    return EXIT_OK
