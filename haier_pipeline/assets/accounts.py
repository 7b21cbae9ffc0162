"""`account_balances` (history: one row per sales organisation per fetch) and `logistics_events`."""

from collections.abc import Iterator

import dagster as dg

from haier_pipeline.assets.common import HAIER_API_POOL, table_asset
from haier_pipeline.assets.step import running_step
from haier_pipeline.checks.rules import field_anomalies_spec, schema_gate_spec
from haier_pipeline.config_files import read_orders
from haier_pipeline.haier import HaierClient
from haier_pipeline.records import BALANCE_ROW, LOGISTICS_RECORD, Parsed, UnusableAnswer
from haier_pipeline.resources import PipelineSettings
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse import WarehouseResource


@table_asset(
    "account_balances",
    pool=HAIER_API_POOL,
    description="Payer account balance, one row per sales organisation per fetch: history, never overwritten.",
    check_specs=[schema_gate_spec("account_balances"), field_anomalies_spec("account_balances")],
)
def account_balances(
    context: dg.AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        balances = step.absorb(BALANCE_ROW.parse(haier.balance(), {"fetched_at": now_utc()}))
        yield from step.checked(pipeline.max_rejected_ratio)
        with store.transaction() as tx:
            tx.append("account_balances", balances)
            step.close(tx, loaded=len(balances), message=f"{len(balances)} sales organisations")
        metadata = step.metadata(len(balances), step.table_rows("account_balances"), balances)
        yield dg.MaterializeResult(metadata=metadata)


@table_asset(
    "logistics_events",
    pool=HAIER_API_POOL,
    description="For each order in HAIER_ORDERS_FILE, its records from the three logistics lists, kept whole as "
    "JSON with the list's name. Re-fetching an order replaces its records.",
    check_specs=[schema_gate_spec("logistics_events"), field_anomalies_spec("logistics_events")],
)
def logistics_events(
    context: dg.AssetExecutionContext,
    haier: HaierClient,
    warehouse: WarehouseResource,
    pipeline: PipelineSettings,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    with running_step(context, warehouse, haier) as step:
        store = step.warehouse
        orders = read_orders(pipeline.orders_file)
        fetched_at = now_utc()
        outcomes = haier.fan_out(
            lambda order: haier.logistics(order.order_code, order.delivery_record_code, order.member_id),
            orders,
        )
        parsed = Parsed(LOGISTICS_RECORD)
        answered = []
        for outcome in outcomes:
            item = {"order_code": outcome.item.order_code}
            if outcome.error is not None:
                step.item_failed(item, outcome.error)
                continue
            answered.append(outcome.item.order_code)
            # Keys the document does not name keep the order: counted as drift, as unknown keys of rows are.
            for key, example in getattr(outcome.value, "unknown_keys", {}).items():
                step.unknown_keys[f"logistics: {key}"] += 1
                step.unknown_examples.setdefault(f"logistics: {key}", example)
            for source_list, records in (outcome.value or {}).items():
                context_columns = {**item, "source_list": source_list, "fetched_at": fetched_at}
                try:
                    parsed.extend(LOGISTICS_RECORD.parse(records, context_columns))
                except UnusableAnswer as error:
                    step.refuse("the answer is not rows", {**item, "source_list": source_list}, f": {error}")
        events = step.absorb(parsed)
        yield from step.checked(pipeline.max_rejected_ratio)
        with store.transaction() as tx:
            if answered:
                tx.replace("logistics_events", events, {"order_code": answered})
            step.close(tx, loaded=len(events), message=f"{len(answered)} of {len(orders)} orders answered")
        metadata = step.metadata(len(events), step.table_rows("logistics_events"))
        metadata["orders"] = len(orders)
        yield dg.MaterializeResult(metadata=metadata)
