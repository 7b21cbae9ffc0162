"""Which step writes an endpoint's table: one per kind of write disposition (a new endpoint declares one of these; a
new kind of write is a new runner here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from haier_pipeline.defs.haier_catalog.history import write_versions
from haier_pipeline.defs.haier_catalog.listing import write_listing
from haier_pipeline.defs.haier_catalog.rebuild import rebuild
from haier_pipeline.defs.haier_catalog.rows import write_rows
from haier_pipeline.defs.haier_catalog.step import StepResources
from haier_pipeline.defs.haier_catalog.stock.day import write_stock_day
from haier_pipeline.endpoints.declaration import (
    Append,
    Endpoint,
    Rebuild,
    ReplaceItems,
    SoftDelete,
    StockDay,
    Upsert,
    Versions,
    Write,
)

Runner = Callable[[dg.AssetExecutionContext, Endpoint, StepResources], Iterator[Any]]

RUNNERS: dict[type[Write], Runner] = {
    Append: write_rows,
    Upsert: write_rows,
    ReplaceItems: write_rows,
    SoftDelete: write_listing,
    Versions: write_versions,
    Rebuild: rebuild,
    StockDay: write_stock_day,
}


def runner_for(write: Write) -> Runner:
    return RUNNERS[type(write)]
