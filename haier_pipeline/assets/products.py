"""`products`: the whole procurable listing; missing products become inactive, never deleted."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from haier_pipeline.assets.common import HAIER_API_POOL, table_asset
from haier_pipeline.assets.step import running_step
from haier_pipeline.checks.rules import (
    deactivation_guard,
    deactivation_guard_spec,
    field_anomalies_spec,
    schema_gate_spec,
)
from haier_pipeline.haier import HaierClient
from haier_pipeline.records import PRODUCT
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import WarehouseResource


@table_asset(
    "products",
    pool=HAIER_API_POOL,
    description="Every product code the account was ever offered. One listing call; duplicates collapse; a product "
    "missing from a listing with no refused rows becomes is_active = false (never deleted); first_seen_at / "
    "last_seen_at kept.",
    check_specs=[schema_gate_spec("products"), deactivation_guard_spec(), field_anomalies_spec("products")],
)
def products(
    context: dg.AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        listed = step.absorb(PRODUCT.parse(haier.products()))

        existing = store.query("SELECT product_code, is_active, first_seen_at FROM {schema}.products")
        active_before = existing[existing["is_active"].astype(bool)]
        # A row we refused may be a listed product we could not read: only a clean listing deactivates.
        clean = not step.rejected
        vanished = sorted(set(active_before["product_code"]) - set(listed["product_code"])) if clean else []
        yield from step.checked(
            pipeline.max_rejected_ratio,
            deactivation_guard(len(active_before), len(vanished), pipeline.max_deactivate_ratio),
        )

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
            kept = "" if clean else f"; no deactivation: {len(step.rejected)} listing rows were refused"
            step.close(tx, loaded=len(listed), message=f"{len(listed)} listed, {len(vanished)} deactivated{kept}")
        metadata = step.metadata(
            len(listed), step.table_rows("products"), listed[["product_code", "product_model", "brand", "is_sales"]]
        )
        metadata["deactivated"] = len(vanished)
        metadata["deactivation_skipped"] = not clean
        yield dg.MaterializeResult(metadata=metadata)
