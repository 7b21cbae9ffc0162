"""`products`: the whole procurable listing; missing products become inactive, never deleted."""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult

from haier_pipeline import frames
from haier_pipeline.assets.common import HAIER_API_POOL, table_asset
from haier_pipeline.assets.step import running_step
from haier_pipeline.checks.rules import (
    deactivation_guard,
    deactivation_guard_spec,
    schema_gate,
    schema_gate_spec,
)
from haier_pipeline.haier import HaierClient
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.validation import ProductsRaw, split_valid
from haier_pipeline.validation.convert import typed_products
from haier_pipeline.warehouse import WarehouseResource


@table_asset(
    "products",
    pool=HAIER_API_POOL,
    description="Every product code the account was ever offered. One listing call; duplicates collapse; a product "
    "missing from the listing becomes is_active = false (never deleted); first_seen_at / last_seen_at kept.",
    check_specs=[schema_gate_spec("products"), deactivation_guard_spec()],
)
def products(
    context: AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[AssetCheckResult | MaterializeResult]:
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        listing = frames.products_frame(haier.products())
        listed_codes = {code for code in listing["product_code"] if isinstance(code, str) and code}
        listing = frames.distinct_products(listing)
        split = split_valid(listing, ProductsRaw)
        step.quarantine(split)
        listed = typed_products(split.valid)

        existing = store.query("SELECT product_code, is_active, first_seen_at FROM {schema}.products")
        active_before = existing[existing["is_active"].astype(bool)]
        vanished = sorted(set(active_before["product_code"]) - listed_codes)
        checks = [
            schema_gate(split, pipeline.max_rejected_ratio),
            deactivation_guard(len(active_before), len(vanished), pipeline.max_deactivate_ratio),
        ]
        yield from checks
        step.fail_on_blocking(checks)

        seen_at = now_utc()
        first_seen = dict(zip(existing["product_code"], existing["first_seen_at"], strict=True))
        listed["is_active"] = True
        listed["first_seen_at"] = [first_seen.get(code, seen_at) for code in listed["product_code"]]
        listed["last_seen_at"] = seen_at
        deactivated = pd.DataFrame({"product_code": vanished, "is_active": False})
        with store.transaction() as tx:
            tx.upsert("products", listed)
            if vanished:
                tx.upsert("products", deactivated)
            step.close(
                tx,
                loaded=len(listed),
                message=f"{len(listed)} listed, {len(vanished)} deactivated, {len(split.rejected)} rejected",
            )
        table_rows = step.table_rows("products")
        metadata = step.metadata(
            len(listed), table_rows, listed[["product_code", "product_model", "brand", "is_sales"]]
        )
        metadata["deactivated"] = len(vanished)
        yield MaterializeResult(metadata=metadata)
