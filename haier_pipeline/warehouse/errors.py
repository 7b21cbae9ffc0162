"""Errors raised by the warehouse layer."""

from __future__ import annotations

ENV_VAR = "HAIER_WAREHOUSE_URL"  # named by every warehouse error that is the setting's fault


class WarehouseError(Exception):
    """Base class: anything the warehouse layer refuses or cannot do."""


class WarehouseConfigError(WarehouseError, ValueError):
    """HAIER_WAREHOUSE_URL is missing or malformed (the CLI maps this to exit code 2)."""


class WarehouseLockTimeout(WarehouseError, TimeoutError):
    """Another process kept the DuckDB file locked for longer than we were willing to wait."""
