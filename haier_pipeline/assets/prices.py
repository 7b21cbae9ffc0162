"""`prices` (current, one row per product) and `price_history` (SCD2 versions of them)."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline.assets.common import HAIER_API_POOL, WAREHOUSE_POOL, table_asset
from haier_pipeline.assets.step import Step, running_step
from haier_pipeline.checks.rules import (
    field_anomalies_spec,
    invoice_not_above_supply,
    one_open_version,
    one_open_version_spec,
    price_jump,
    price_rule_specs,
    schema_gate_spec,
)
from haier_pipeline.haier import HaierClient
from haier_pipeline.records import PRICE_ROW, Parsed, UnusableAnswer
from haier_pipeline.records.kinds import PRODUCT_CODE, Invalid
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import WarehouseResource, WarehouseTransaction
from haier_pipeline.warehouse.tables import PRICE_VERSION_COLUMNS

DAILY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=24))
TRACKED = [column for column in PRICE_VERSION_COLUMNS if column != "product_code"]
# Listed, and procurable or not known not to be: a listing whose isSales could not be read (NULL, recorded as an
# anomaly) does not drop the product, the price and stock answers say what the vendor offers.
ASKED = "is_active AND is_sales IS NOT FALSE"
ACTIVE_PROCURABLE = f"SELECT product_code FROM {{schema}}.products WHERE {ASKED} ORDER BY product_code"
# A product no longer listed or procurable has no current dealer price: its last one would pass for current.
WITHDRAW_PRICES = (
    "DELETE FROM {schema}.prices WHERE product_code NOT IN "
    f"(SELECT product_code FROM {{schema}}.products WHERE {ASKED})"
)


@table_asset(
    "prices",
    pool=HAIER_API_POOL,
    deps=["products"],
    freshness_policy=DAILY,
    description="Dealer price (type PT) of every active procurable product, 20 codes a call over the client's "
    "pool and limiter; exact decimals; rows with a reason (not procurable, price not in effect) kept, flagged.",
    check_specs=[schema_gate_spec("prices"), *price_rule_specs(), field_anomalies_spec("prices")],
)
def prices(
    context: dg.AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        codes = store.query(ACTIVE_PROCURABLE)["product_code"].tolist()
        context_columns = {"fetched_at": now_utc()}
        parsed = Parsed(PRICE_ROW)
        for outcome in haier.prices(codes):
            if outcome.error is not None:
                for code in outcome.item:
                    step.item_failed({"product_code": code}, outcome.error)
                continue
            try:
                batch = PRICE_ROW.parse(rows_asked_for(step, outcome.item, outcome.value), context_columns)
            except UnusableAnswer as error:
                for code in outcome.item:
                    step.refuse("the answer is not rows", {"product_code": code}, f": {error}")
                continue
            parsed.extend(batch)
        current = step.absorb(parsed)
        previous = store.query("SELECT product_code, supply_price FROM {schema}.prices")
        yield from step.checked(
            pipeline.max_rejected_ratio,
            invoice_not_above_supply(current),
            price_jump(current[["product_code", "supply_price"]], previous),
        )
        with store.transaction() as tx:
            tx.upsert("prices", current)
            withdrawn = tx.execute_count(WITHDRAW_PRICES)
            message = f"{len(current)} prices for {len(codes)} products, {withdrawn} withdrawn (no longer procurable)"
            step.close(tx, loaded=len(current), message=message)
        metadata = step.metadata(
            len(current),
            step.table_rows("prices"),
            current[["product_code", "supply_price", "invoice_price", "rebate_type", "is_sales", "reason"]],
        )
        metadata["products_asked"] = len(codes)
        metadata["prices_withdrawn"] = withdrawn
        yield dg.MaterializeResult(metadata=metadata)


def rows_asked_for(step: Step, asked: list[str], answer: Any) -> Any:
    """The answer's rows for the codes this call asked for. A row for another code is refused: the call that
    asked for that code has its own answer, which a stray row must never replace. A code asked but absent is
    refused too; a row without a readable code is probably the answer for one of them and is refused by the
    parse: each refused input counts once, so it stands for one absent code."""
    if not isinstance(answer, list):
        return answer  # not rows at all: the parse refuses the whole answer
    wanted = set(asked)
    rows, sent, codeless = [], set(), 0
    for row in answer:
        code = _code_of(row)
        if code is None:
            codeless += 1
        elif code not in wanted:
            step.refuse("answered for a code the call did not ask for", {"vendor_row": row}, f" ({code})")
            continue
        else:
            sent.add(code)
        rows.append(row)
    for code in [code for code in asked if code not in sent][codeless:]:
        step.refuse("asked, but the API answered no price row for it", {"product_code": code})
    return rows


def _code_of(row: Any) -> str | None:
    """The row's product code as the parse reads it, else None (the parse refuses the row)."""
    try:
        return PRODUCT_CODE.read(row.get("productCode")) if isinstance(row, dict) else None
    except Invalid:
        return None


@table_asset(
    "price_history",
    pool=WAREHOUSE_POOL,
    deps=["prices"],
    description="Slowly changing dimension (type 2) of prices: a new version when supply price, invoice price, "
    "direct discount, rebate type, rebate or procurability changes; the open version has valid_to null. No API calls.",
    check_specs=[one_open_version_spec()],
)
def price_history(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    with running_step(context, warehouse) as step:
        store = step.warehouse
        current = store.query("SELECT product_code, " + ", ".join(TRACKED) + ", fetched_at FROM {schema}.prices")
        step.total = len(current)
        observed_at = pd.Timestamp(current["fetched_at"].max()).to_pydatetime() if len(current) else now_utc()
        with store.transaction() as tx:
            adopted = adopt_columns_added_by_an_upgrade(tx, context.log)
            opened, closed = tx.scd2(
                "price_history",
                current[["product_code", *TRACKED]],
                key=["product_code"],
                tracked=TRACKED,
                at=observed_at,
            )
            # A price withdrawn from `prices` (the product no longer procurable) is no longer current either.
            closed += tx.execute_count(
                "UPDATE {schema}.price_history SET valid_to = :at WHERE valid_to IS NULL AND valid_from < :at "
                "AND product_code NOT IN (SELECT product_code FROM {schema}.prices)",
                {"at": observed_at},
            )
            open_versions = tx.query(
                "SELECT p.product_code, count(h.product_code) AS open_versions FROM {schema}.prices p "
                "LEFT JOIN {schema}.price_history h ON h.product_code = p.product_code AND h.valid_to IS NULL "
                "GROUP BY p.product_code"
            )
            step.close(tx, loaded=opened, message=f"{opened} versions opened, {closed} closed")
        yield one_open_version(open_versions)
        metadata = step.metadata(opened, step.table_rows("price_history"))
        metadata.update(
            {"versions_opened": opened, "versions_closed": closed, "versions_adopting_new_columns": adopted}
        )
        yield dg.MaterializeResult(metadata=metadata)


def adopt_columns_added_by_an_upgrade(tx: WarehouseTransaction, log: dg.DagsterLogManager) -> int:
    """A tracked column that an upgrade added (see schema_changes) is NULL in every version recorded before it.
    Its first values are not a change: an open version recorded before the column takes the value in place once
    its product's price has been fetched since, if the other tracked columns equal the current price (versions
    whose price did change keep NULL, not recorded then, and are closed by the SCD2 as usual). Decided per product:
    a price refused or unanswered in the first fetch after the upgrade is adopted when it is fetched, not versioned
    (the column was settled for every product at once, and such a product then opened a version that only said
    the column appeared). The column is settled once every open version recorded before it has had its chance."""
    pending = tx.query(
        "SELECT column_name, added_at FROM {schema}.schema_changes "
        "WHERE table_name = 'price_history' AND settled_at IS NULL"
    )
    added = {
        str(column): pd.Timestamp(at).to_pydatetime()
        for column, at in pending.itertuples(index=False)
        if column in TRACKED
    }
    adopted = 0
    for column, added_at in added.items():
        unchanged = " AND ".join(f"h.{other} IS NOT DISTINCT FROM p.{other}" for other in TRACKED if other not in added)
        before_the_column = "h.valid_to IS NULL AND h.valid_from < :added_at"
        took = tx.execute_count(
            f"UPDATE {{schema}}.price_history AS h SET {column} = p.{column} FROM {{schema}}.prices AS p "
            f"WHERE h.product_code = p.product_code AND {before_the_column} AND p.fetched_at > :added_at "
            f"AND {unchanged} AND h.{column} IS NULL AND p.{column} IS NOT NULL",
            {"added_at": added_at},
        )
        adopted += took
        waiting = tx.query(
            "SELECT count(*) AS n FROM {schema}.price_history AS h JOIN {schema}.prices AS p "
            f"ON h.product_code = p.product_code WHERE {before_the_column} AND p.fetched_at <= :added_at",
            {"added_at": added_at},
        )["n"].iloc[0]
        if waiting == 0:
            tx.execute(
                "UPDATE {schema}.schema_changes SET settled_at = CURRENT_TIMESTAMP "
                "WHERE table_name = 'price_history' AND column_name = :column",
                {"column": column},
            )
        log.info(
            f"price_history: {column} added by an upgrade; {took} open versions took its values"
            + (f", {waiting} wait for their price to be fetched" if waiting else "")
        )
    return adopted
