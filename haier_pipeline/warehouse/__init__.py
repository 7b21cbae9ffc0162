"""The warehouse layer: schema `haier` in DuckDB or Postgres, and bulk, transactional writes into it.

Knows nothing of HTTP, the API client or the assets. `WarehouseResource` (which imports dagster) is
loaded on first access so that plain readers, like the CLI's `query`, stay quick to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from haier_pipeline.warehouse.errors import (
    WarehouseConfigError,
    WarehouseError,
    WarehouseLockTimeout,
    WarehouseStorageError,
)
from haier_pipeline.warehouse.tables import DEFAULT_SCHEMA, TABLE_NAMES, build_tables
from haier_pipeline.warehouse.url import DEFAULT_URL, ENV_VAR, mask_url, parse_warehouse_url
from haier_pipeline.warehouse.warehouse import Warehouse, WarehouseTransaction, shared_warehouse

if TYPE_CHECKING:
    from haier_pipeline.warehouse.resource import WarehouseResource

__all__ = [
    "DEFAULT_SCHEMA",
    "DEFAULT_URL",
    "ENV_VAR",
    "TABLE_NAMES",
    "Warehouse",
    "WarehouseConfigError",
    "WarehouseError",
    "WarehouseLockTimeout",
    "WarehouseResource",
    "WarehouseStorageError",
    "WarehouseTransaction",
    "build_tables",
    "mask_url",
    "parse_warehouse_url",
    "shared_warehouse",
]


def __getattr__(name: str) -> Any:
    if name == "WarehouseResource":
        from haier_pipeline.warehouse.resource import WarehouseResource

        return WarehouseResource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
