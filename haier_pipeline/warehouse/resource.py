"""The Dagster resource that hands assets the warehouse."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.warehouse import locking
from haier_pipeline.warehouse.tables import DEFAULT_SCHEMA
from haier_pipeline.warehouse.url import DEFAULT_URL, mask_url
from haier_pipeline.warehouse.warehouse import Warehouse, shared_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """HAIER_WAREHOUSE_URL as a resource. `get_warehouse()` is cached per process and URL, and the
    schema is ensured on its first call in a process."""

    url: str = DEFAULT_URL
    schema_name: str = DEFAULT_SCHEMA
    # Seconds a step waits for a DuckDB file another process holds, or a Postgres lock another session holds.
    lock_timeout: float = locking.DEFAULT_WRITE_TIMEOUT

    def get_warehouse(self) -> Warehouse:
        # The schema is ensured once per process, waiting only `lock_timeout` for a file another process holds, so
        # such a file fails the step after the configured time, naming the holder.
        warehouse = shared_warehouse(self.url, self.schema_name, lock_timeout=self.lock_timeout)
        # One process-wide Warehouse per URL; every resource of a process comes from one Settings. A step reads before
        # it writes, so its reads wait the configured time too, not the default 60 s.
        warehouse._backend.write_timeout = self.lock_timeout
        warehouse._backend.read_timeout = self.lock_timeout
        return warehouse

    def __repr_args__(self):  # type: ignore[override]
        # The URL may carry a Postgres password; pydantic builds both repr() and str() from this.
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name == "url" and isinstance(value, str) else value)
