"""The Dagster resource that hands assets the warehouse."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.warehouse.tables import DEFAULT_SCHEMA
from haier_pipeline.warehouse.url import DEFAULT_URL, mask_url
from haier_pipeline.warehouse.warehouse import Warehouse, shared_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """HAIER_WAREHOUSE_URL as a resource. `get_warehouse()` is cached per process and URL, and the
    schema is ensured on its first call in a process."""

    url: str = DEFAULT_URL
    schema_name: str = DEFAULT_SCHEMA

    def get_warehouse(self) -> Warehouse:
        return shared_warehouse(self.url, self.schema_name)

    def __repr_args__(self):  # type: ignore[override]
        # The URL may carry a Postgres password; pydantic builds both repr() and str() from this.
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name == "url" and isinstance(value, str) else value)
