"""`haier-pipeline query`: the old admin lookups, answered by the same client, shaping and validation
as the assets, printed as a table or as JSON keyed by warehouse column names."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import pandas as pd

from haier_pipeline import frames
from haier_pipeline.cli.main import EXIT_OK
from haier_pipeline.cli.render import write_json, write_table
from haier_pipeline.haier import HaierClient
from haier_pipeline.resources import client_from_settings
from haier_pipeline.settings import Settings, load_settings
from haier_pipeline.stock_cache import cached_stock
from haier_pipeline.validation import BalancesRaw, PricesRaw, ProductsRaw, split_valid
from haier_pipeline.validation.convert import typed_balances, typed_prices, typed_products
from haier_pipeline.warehouse import Warehouse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    lookups = parser.add_subparsers(dest="lookup", required=True, metavar="WHAT")
    products = lookups.add_parser("products", help="procurable products (no code: the whole listing)")
    products.add_argument("codes", nargs="*", metavar="CODE")
    prices = lookups.add_parser("prices", help="dealer prices, any number of codes (20 a call)")
    prices.add_argument("codes", nargs="+", metavar="CODE")
    stock = lookups.add_parser("stock", help="stock of one product in one county, one row per warehouse")
    stock.add_argument("code", metavar="CODE")
    stock.add_argument("county", metavar="COUNTY")
    logistics = lookups.add_parser("logistics", help="logistics records of one order")
    logistics.add_argument("order_code", metavar="ORDER_CODE")
    logistics.add_argument("--delivery-record-code", metavar="X")
    logistics.add_argument("--member-id", type=int, metavar="N")
    lookups.add_parser("balance", help="payer account balance per sales organisation")
    for sub in lookups.choices.values():
        sub.add_argument("--json", action="store_true", help="print a JSON array of row objects")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = client_from_settings(settings)
    frame = LOOKUPS[args.lookup](args, client, settings)
    (write_json if args.json else write_table)(frame, sys.stdout)
    return EXIT_OK


def _checked(frame: pd.DataFrame, model: type, what: str) -> pd.DataFrame:
    split = split_valid(frame, model)
    for reason in split.rejected["reason"]:
        print(f"warning: a {what} row failed validation: {reason}", file=sys.stderr)
    return split.valid


def _products(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    frame = frames.distinct_products(frames.products_frame(client.products(args.codes or None)))
    return typed_products(_checked(frame, ProductsRaw, "product"))


def _prices(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    rows = []
    for outcome in client.prices(args.codes):
        if outcome.error is not None:
            raise outcome.error
        rows.extend(outcome.value or [])
    frame = frames.prices_frame(rows, datetime.now(UTC))
    return typed_prices(_checked(frame, PricesRaw, "price"))


def _stock(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    warehouse = Warehouse.from_url(settings.warehouse_url, lock_timeout=settings.warehouse_lock_timeout)
    answer = cached_stock(client, warehouse, args.code, args.county, settings.stock_cache_ttl)
    print(f"({answer.source})", file=sys.stderr)
    return answer.rows


def _logistics(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    lists = client.logistics(args.order_code, args.delivery_record_code, args.member_id)
    return frames.logistics_frame(args.order_code, lists, datetime.now(UTC))


def _balance(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    frame = frames.balances_frame(client.balance(), datetime.now(UTC))
    return typed_balances(_checked(frame, BalancesRaw, "balance"))


LOOKUPS = {
    "products": _products,
    "prices": _prices,
    "stock": _stock,
    "logistics": _logistics,
    "balance": _balance,
}
