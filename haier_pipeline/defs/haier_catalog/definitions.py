"""The Haier catalog: one asset per endpoint declaration, and the sensor that follows the orders file."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.defs.haier_catalog.assets import catalog_assets
from haier_pipeline.defs.haier_catalog.sensors import orders_file_sensor
from haier_pipeline.defs.resources import code_location_settings


@dg.definitions
def haier_catalog() -> dg.Definitions:
    settings = code_location_settings()
    return dg.Definitions(assets=catalog_assets(settings.warehouse_url), sensors=[orders_file_sensor()])
