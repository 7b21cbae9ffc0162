"""`haier-pipeline query`: the old admin lookups, answered by the same client, shaping and validation
as the assets, printed as a table or as JSON keyed by warehouse column names."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from haier_pipeline.cli.accounts import add_account_argument, the_account
from haier_pipeline.cli.exit_codes import EXIT_OK
from haier_pipeline.cli.render import write_json, write_table
from haier_pipeline.config_files import ascii_typed
from haier_pipeline.defs.resources import client_from_settings
from haier_pipeline.endpoints.account_balances import BALANCE_ROW
from haier_pipeline.endpoints.logistics_events import LOGISTICS_RECORD
from haier_pipeline.endpoints.prices import PRICE_ROW
from haier_pipeline.endpoints.products import PRODUCT
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.records import Parsed
from haier_pipeline.records.kinds import COUNTY_CODE, MEMBER_ID, PRODUCT_CODE, TextKind
from haier_pipeline.settings import Settings, load_settings
from haier_pipeline.stock_cache import cached_stock
from haier_pipeline.warehouse.warehouse import Warehouse

# Seconds `query stock` waits for a warehouse file another program holds before the API answers uncached.
LOOKUP_LOCK_WAIT = 5.0


def _code_argument(kind: TextKind) -> Callable[[str], str]:
    """The vendor answers a malformed code with HTTP 400 after the token round trip; say it before any call."""

    def parse(raw: str) -> str:
        code = raw.strip()
        if not kind.accepts(code):
            # A Chinese input method types full-width digits and letters; say how to type them instead.
            typed = ascii_typed(code) or code
            hint = f": full-width characters are not accepted, type it as {typed}" if kind.accepts(typed) else ""
            raise argparse.ArgumentTypeError(f"{raw!r} is not a {kind.name}{hint}")
        return code

    return parse


def member_id_argument(raw: str) -> int:
    """A member id is a positive whole number in ASCII digits: int() also takes -5, 0 and full-width digits, none of
    them a member's, and the vendor would be asked for them."""
    text = raw.strip()
    if not MEMBER_ID.accepts(text):
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a member id (a whole number, 1 or more, in ASCII digits): write the member's number"
        )
    return int(text)


# Each lookup's `--help` ends with examples of it and of each of its options.
LOOKUP_EXAMPLES = {
    "products": """examples:
  haier-pipeline query products                         the whole listing, procurable or not (is_sales says)
  haier-pipeline query products GA0SZC00U GA1AB2C3D     those products only
  haier-pipeline query products GA0SZC00U --json        as a JSON array keyed by the warehouse's column names
  haier-pipeline query products --account north        as account north (HAIER_ACCOUNTS_FILE) sees it""",
    "prices": """examples:
  haier-pipeline query prices GA0SZC00U                 one product's dealer price
  haier-pipeline query prices GA0SZC00U GA1AB2C3D ...   any number of codes, 20 a call
  haier-pipeline query prices GA0SZC00U --json          money as decimal strings, exact
  haier-pipeline query prices GA0SZC00U --account north account north's price""",
    "stock": """examples:
  haier-pipeline query stock GA0SZC00U 110101           one row per warehouse; a recorded answer younger than
                                                        HAIER_STOCK_CACHE_TTL s, else the API (then cached)
  haier-pipeline query stock GA0SZC00U 110101 --json    the same rows as JSON
  haier-pipeline query stock GA0SZC00U 110101 --account north   account north's stock""",
    "logistics": """examples:
  haier-pipeline query logistics SO.20190106.000003
  haier-pipeline query logistics SO.20190106.000003 --delivery-record-code SO.20190106.000003.F1
  haier-pipeline query logistics SO.20190106.000003 --member-id 42
  haier-pipeline query logistics SO.20190106.000003 --json
  haier-pipeline query logistics SO.20190106.000003 --account north""",
    "balance": """examples:
  haier-pipeline query balance                          balance per sales organisation (HAIER_CUSTOMER_PASSWORD)
  haier-pipeline query balance --json
  haier-pipeline query balance --account north          account north's balance""",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    lookups = parser.add_subparsers(dest="lookup", required=True, metavar="WHAT")

    def lookup(name: str, summary: str) -> argparse.ArgumentParser:
        return lookups.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=LOOKUP_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    products = lookup("products", "the product listing, with each product's is_sales (no code: the whole listing)")
    products.add_argument("codes", nargs="*", metavar="CODE", type=_code_argument(PRODUCT_CODE), help="product codes")
    prices = lookup("prices", "dealer prices, any number of codes (20 a call)")
    prices.add_argument("codes", nargs="+", metavar="CODE", type=_code_argument(PRODUCT_CODE), help="product codes")
    stock = lookup("stock", "stock of one product in one county, one row per warehouse")
    stock.add_argument("code", metavar="CODE", type=_code_argument(PRODUCT_CODE), help="a product code")
    stock.add_argument("county", metavar="COUNTY", type=_code_argument(COUNTY_CODE), help="a 6-digit county code")
    logistics = lookup("logistics", "logistics records of one order")
    logistics.add_argument("order_code", metavar="ORDER_CODE", help="the order's code, e.g. SO.20190106.000003")
    logistics.add_argument(
        "--delivery-record-code",
        metavar="X",
        help="narrow the lookup to one delivery record of the order, sent as deliveryRecordCode (optional; e.g. "
        "SO.20190106.000003.F1)",
    )
    logistics.add_argument(
        "--member-id",
        type=member_id_argument,
        metavar="N",
        help="the member id, sent as memberId (optional; a whole number, 1 or more, in ASCII digits)",
    )
    lookup("balance", "payer account balance per sales organisation")
    for sub in lookups.choices.values():
        sub.add_argument("--json", action="store_true", help="print a JSON array of row objects")
        add_account_argument(sub, repeatable=False)


def run(args: argparse.Namespace) -> int:
    settings = the_account(load_settings(), args.account)
    client = client_from_settings(settings)
    frame = LOOKUPS[args.lookup](args, client, settings)
    (write_json if args.json else write_table)(frame, sys.stdout)
    return EXIT_OK


def _checked(parsed: Parsed) -> pd.DataFrame:
    """The rows a sync would load; what it would refuse or record as an anomaly is said on stderr."""
    for refusal in parsed.refused:
        print(f"warning: a {parsed.record.name} was refused: {refusal.reason}", file=sys.stderr)
    for anomaly in parsed.anomalies:
        print(f"warning: {anomaly.row_key} {anomaly.field} stored as NULL: {anomaly.reason}", file=sys.stderr)
    return parsed.frame()


def _products(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    return _checked(PRODUCT.parse(client.products(args.codes or None)))


def _prices(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    parsed = Parsed(PRICE_ROW)
    outcomes = client.prices(args.codes)
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    if errors and len(errors) == len(outcomes):
        raise errors[0]
    for outcome in outcomes:
        if outcome.refused:  # that code's data problem, as a refused row is: said, and the other prices printed
            print(f"warning: the price of {', '.join(outcome.item)} was refused: {outcome.error}", file=sys.stderr)
        elif outcome.error is not None:
            raise outcome.error
        else:
            parsed.extend(PRICE_ROW.parse(outcome.value, {"fetched_at": datetime.now(UTC)}))
    return _checked(parsed)


def _stock(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    # The warehouse is only this lookup's cache: a file held elsewhere is waited for briefly, then the API answers.
    wait = min(settings.warehouse_lock_timeout, LOOKUP_LOCK_WAIT)
    warehouse = Warehouse.from_url(settings.warehouse_url, lock_timeout=wait)
    answer = cached_stock(client, warehouse, args.code, args.county, settings.stock_cache_ttl, settings.name)
    print(f"({answer.source})", file=sys.stderr)
    return answer.rows


def _logistics(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    parsed = Parsed(LOGISTICS_RECORD)
    fetched_at = datetime.now(UTC)
    answer = client.logistics(args.order_code, args.delivery_record_code, args.member_id)
    for key in getattr(answer, "unknown_keys", {}):
        print(f"warning: the answer carries a key the vendor's document does not name: {key}", file=sys.stderr)
    for source_list, records in answer.items():
        context = {"order_code": args.order_code, "source_list": source_list, "fetched_at": fetched_at}
        parsed.extend(LOGISTICS_RECORD.parse(records, context))
    return _checked(parsed)


def _balance(args: argparse.Namespace, client: HaierClient, settings: Settings) -> pd.DataFrame:
    return _checked(BALANCE_ROW.parse(client.balance(), {"fetched_at": datetime.now(UTC)}))


LOOKUPS = {
    "products": _products,
    "prices": _prices,
    "stock": _stock,
    "logistics": _logistics,
    "balance": _balance,
}
