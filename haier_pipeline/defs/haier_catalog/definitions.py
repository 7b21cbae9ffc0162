"""The Haier catalog: one asset per endpoint declaration and account, and the sensor that follows each account's
orders file."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.defs.haier_catalog.assets import catalog_assets
from haier_pipeline.defs.haier_catalog.sensors import orders_file_sensor
from haier_pipeline.defs.resources import code_location_settings


@dg.definitions
def haier_catalog() -> dg.Definitions:
    settings = code_location_settings()
    accounts = settings.accounts
    return dg.Definitions(
        assets=catalog_assets(settings.warehouse_url, list(accounts)),
        sensors=[orders_file_sensor(name, account.orders_file) for name, account in accounts.items()],
    )
