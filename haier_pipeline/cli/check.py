"""`haier-pipeline check`: everything `sync` needs, in the order it needs it: the configuration (printed with every
secret masked), the counties and orders files, the warehouse, then the token and one call to each endpoint (the
product listing, a price batch, one stock pair, one tracked order's logistics, the balance), and what the first
contact detected: the token's shape, the Authorization scheme, the envelopes and codes, the listing's form.

An endpoint that fails is named on stderr and the others are still asked (a missing permission on one endpoint is then
told from a dead token); the exit code is 1 if any failed. `--record DIR` keeps the first answer of each endpoint and
what was detected, every secret masked (haier.first_contact), for Haier's support or for us."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from haier_pipeline.accounts import DEFAULT_ACCOUNT, for_account
from haier_pipeline.cli.accounts import add_account_argument, chosen_accounts, worst
from haier_pipeline.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from haier_pipeline.cli.sync import open_warehouse, preflight
from haier_pipeline.config_files import columns_not_read, read_orders
from haier_pipeline.defs.resources import client_from_settings
from haier_pipeline.endpoints.prices import prices as PRICES
from haier_pipeline.errors import (
    HaierAuthenticationError,
    HaierConfigurationError,
    HaierError,
    HaierUnavailableError,
)
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.first_contact import FirstContactRecord
from haier_pipeline.redaction import redact
from haier_pipeline.settings import Settings, load_settings
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import mask_url

# Failures after which no other endpoint can answer either: the check stops there.
STOPPING = (HaierAuthenticationError, HaierUnavailableError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_account_argument(parser, repeatable=False)
    parser.add_argument("--no-warehouse", action="store_true", help="skip opening the warehouse")
    parser.add_argument(
        "--record",
        metavar="DIR",
        type=Path,
        help="save the first answer of each endpoint and what was detected into DIR, every secret masked",
    )


def run(args: argparse.Namespace) -> int:
    """Each account in turn (or the one named): one that fails is named, and the others are still checked."""
    settings = load_settings()
    names = chosen_accounts(settings, [args.account] if args.account else None)
    if names == [DEFAULT_ACCOUNT]:
        return check_account(settings, args.record, warehouse=not args.no_warehouse)
    codes = []
    for number, name in enumerate(names):
        print(f"account {name}:")
        record = args.record / name if args.record else None
        try:
            codes.append(check_account(settings.account(name), record, warehouse=not args.no_warehouse and not number))
        except HaierConfigurationError as error:
            print(f"haier-pipeline check: account {name}: {error}", file=sys.stderr)
            codes.append(EXIT_CONFIG)
        except HaierError as error:
            print(f"haier-pipeline check: account {name}: {error}", file=sys.stderr)
            codes.append(EXIT_FAILED)
    return worst(codes)


def check_account(settings: Settings, record_directory: Path | None, *, warehouse: bool) -> int:
    """One account's configuration, files, token and endpoints; the warehouse when `warehouse` (it is shared)."""
    print("configuration:")
    for name, value in settings.masked().items():
        print(f"  {name:<22} {value}")
    preflight(settings, orders=True, warehouse=warehouse)
    counties_file = Path(settings.counties_file) if settings.counties_from_file else None
    notes = columns_not_read(counties_file, settings.orders_file)
    print(f"files:     ok ({len(settings.county_codes)} counties, orders in {settings.orders_file}{notes})")
    if warehouse:
        check_warehouse(settings)
    client = client_from_settings(settings)
    record = FirstContactRecord(record_directory) if record_directory else None
    results: dict[str, str] = {}
    try:
        with client.recording(record.keep) if record is not None else nullcontext():
            failed = call_every_endpoint(client, settings, results)
    finally:
        detected = client.detected()
        print_detected(detected, settings)
        if record is not None:
            record.write_detected({**detected, "checks": results, "configuration": settings.masked()})
            print(f"record:    {len(record.written)} files in {record.directory} (secrets masked)")
            for path in record.written:
                print(f"  {path.name}")
    return EXIT_FAILED if failed else EXIT_OK


def check_warehouse(settings: Settings) -> None:
    warehouse = open_warehouse(settings)
    # A check changes nothing: it reads what the warehouse lacks, and the next sync creates or adds it.
    if warehouse.path is not None and not warehouse.path.exists():
        # The preflight above showed the file can be created.
        print(f"warehouse: ok ({warehouse.path} does not exist yet: the first sync creates it)")
        return
    upgrade = warehouse.pending_upgrade()
    if upgrade.privilege_problem:
        # Postgres: a role that could not run the upgrade, or use the tables, would fail every step of sync.
        raise WarehouseConfigError(f"warehouse {warehouse.describe()}: {upgrade.privilege_problem}")
    print(f"warehouse: ok ({warehouse.describe()}; {upgrade.describe()})")


def call_every_endpoint(client: HaierClient, settings: Settings, results: dict[str, str]) -> bool:
    """The token, then one call to each endpoint: each takes its own password (haier-api.md), so a wrong one fails
    here, not in the middle of a sync. Returns whether any failed; `results` gets each endpoint's outcome."""
    started = time.monotonic()
    try:
        client.token()
    except HaierError as error:
        results["token"] = f"failed: {redact(str(error))}"
        raise
    served_by = mask_url(client.token_served_by or client.resolved_token_url)
    results["token"] = "ok"
    print(f"token:     ok ({(time.monotonic() - started) * 1000:.0f} ms from {served_by})")
    failed = False

    def step(name: str, call: Callable[[], str | None]) -> Any:
        nonlocal failed
        try:
            said = call()
        except STOPPING:
            results[name] = "failed"
            raise
        except HaierError as error:
            failed = True
            results[name] = f"failed: {redact(str(error))}"
            print(f"{name + ':':<10} FAILED (see below)")
            print(f"haier-pipeline check: {for_account(str(error), settings.name)}", file=sys.stderr)
            return
        if said is not None:
            results[name] = f"ok ({said})"
            print(f"{name + ':':<10} ok ({said})")

    listed: list[str] = []

    def products() -> str:
        rows = [row for row in client.products() if isinstance(row, dict) and row.get("productCode")]
        # Products, as sync counts them: a code listed twice is one product.
        listed.extend(dict.fromkeys(str(row["productCode"]).strip() for row in rows))
        return f"{len(listed)} listed: HAIER_PASSWORD accepted"

    def prices() -> str | None:
        if not listed:
            return None
        codes = listed[: PRICES.call.batch.size if PRICES.call.batch else 20]
        rows = client.price_batch(codes)
        return f"{len(rows)} rows for {len(codes)} codes asked"

    def stock() -> str | None:
        if not listed or not settings.county_codes:
            return None
        code, county = listed[0], next(iter(settings.county_codes))
        client.stock(code, county)
        return f"{code} in {county}: HAIER_SELLER_PASSWORD accepted"

    def logistics() -> str | None:
        orders = read_orders(settings.orders_file)
        if not orders:
            return None
        order = orders[0]
        answer = client.logistics(order.order_code, order.delivery_record_code, order.member_id)
        records = sum(len(rows) for rows in answer.values())
        drift = getattr(answer, "unknown_keys", {})
        unknown = f"; keys the document does not name: {', '.join(drift)}" if drift else ""
        return f"{order.order_code}: {records} records{unknown}"

    def balance() -> str:
        started = time.monotonic()
        balances = client.balance()
        spent = (time.monotonic() - started) * 1000
        return f"balance: {len(balances)} rows, {spent:.0f} ms: HAIER_CUSTOMER_PASSWORD accepted"

    step("products", products)
    step("prices", prices)
    step("stock", stock)
    step("logistics", logistics)
    step("api", balance)
    return failed


def print_detected(detected: dict[str, Any], settings: Settings) -> None:
    """What the first contact found, and the setting that pins each finding once the vendor confirms it."""
    token = detected["token"]
    print("detected:")
    if token.get("token_key"):
        print(f"  {'token':<16} under {token['token_key']}, lifetime from {token['lifetime_from']}")
    print(f"  {'auth scheme':<16} {detected['auth_scheme']}")
    print(f"  {'listing':<16} {detected['listing_form'] or '(not asked)'}")
    envelopes = (
        "; ".join(f"{endpoint}: {', '.join(seen)}" for endpoint, seen in detected["envelopes"].items())
        or "(no answer read)"
    )
    print(f"  {'envelopes':<16} {envelopes}")
    by_meaning = detected["codes_read_as_success_by_meaning"]
    if settings.success_codes:
        print(f"  {'success codes':<16} pinned by HAIER_SUCCESS_CODES={settings.success_codes}")
    elif by_meaning:
        codes = ",".join(by_meaning)
        pin = f"once Haier confirms, HAIER_SUCCESS_CODES={codes}"
        print(f"  {'success codes':<16} {codes} read as success by meaning: {pin}")
    else:
        print(f"  {'success codes':<16} only the document's (200, success)")
