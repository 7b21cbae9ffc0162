"""WarehouseResource and the per-process cache behind it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from haier_pipeline.defs.resources import WarehouseResource
from haier_pipeline.warehouse.warehouse import Warehouse, shared_warehouse


def test_resource_creates_the_directory_and_the_schema_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    resource = WarehouseResource(url="duckdb:///nested/dir/haier.duckdb")
    warehouse = resource.get_warehouse()
    assert warehouse.path == tmp_path / "nested" / "dir" / "haier.duckdb"
    assert warehouse.path.exists()
    assert sum(warehouse.table_counts().values()) == 0
    assert resource.get_warehouse() is warehouse
    assert shared_warehouse(f"duckdb:///{warehouse.path}", "haier", 60) is warehouse  # same file, same object


def test_resource_works_inside_dagster(tmp_path: Path) -> None:
    import dagster as dg

    @dg.asset
    def products(warehouse: WarehouseResource) -> None:
        with warehouse.get_warehouse().transaction() as tx:
            tx.upsert("products", pd.DataFrame({"product_code": ["A"], "is_active": [True]}))

    url = f"duckdb:///{tmp_path}/haier.duckdb"
    result = dg.materialize([products], resources={"warehouse": WarehouseResource(url=url)})
    assert result.success
    assert Warehouse.from_url(url).table_counts()["products"] == 1
