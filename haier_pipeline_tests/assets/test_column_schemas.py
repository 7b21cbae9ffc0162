"""The column schema the Dagster UI shows for each asset comes from the record declarations."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.defs.haier_catalog.assets import catalog_assets
from haier_pipeline.endpoints.stock_snapshots import STOCK_ROW


def test_every_asset_column_has_the_description_of_its_declaration() -> None:
    schemas = {
        key.to_user_string(): asset.specs_by_key[key].metadata["dagster/column_schema"]
        for asset in catalog_assets("duckdb:///warehouse.duckdb")
        for key in asset.keys
    }
    for name, schema in schemas.items():
        assert isinstance(schema, dg.TableSchema)
        assert all(column.description for column in schema.columns), name
    stock = {column.name: column for column in schemas["stock_snapshots"].columns}
    assert [column.name for column in schemas["stock_snapshots"].columns] == ["account", *STOCK_ROW.columns]
    assert stock["stock"].description == STOCK_ROW.field("stock").description
    assert stock["stock"].type == "integer"
    assert not stock["stock"].constraints.nullable and stock["sec_code"].constraints.nullable
    assert schemas["price_history"].constraints.other == ["primary key (account, product_code, valid_from)"]
    products = {column.name: column for column in schemas["products"].columns}
    assert not products["product_code"].constraints.nullable, "a key column"
    assert schemas["products"].constraints.other == ["primary key (account, product_code)"], "unique per account"
