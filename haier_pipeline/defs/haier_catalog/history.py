"""The step of a history (`Versions`): type-2 slowly changing dimension of another endpoint's table. A new version
(valid_from, valid_to null) whenever a tracked column changes; a key gone from the source has its version closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline.defs.haier_catalog.checks import one_open_version
from haier_pipeline.defs.haier_catalog.step import StepResources, running_step
from haier_pipeline.endpoints.declaration import Endpoint, Versions
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse.tables import ACCOUNT
from haier_pipeline.warehouse.warehouse import WarehouseTransaction


def write_versions(context: dg.AssetExecutionContext, endpoint: Endpoint, given: StepResources) -> Iterator[Any]:
    disposition = endpoint.write
    assert isinstance(disposition, Versions)
    source, tracked = disposition.source, list(disposition.tracked)
    key = [column for column in endpoint.table.key if column != "valid_from"]
    keys = ", ".join(key)
    with running_step(context, endpoint.name, given.warehouse, account=given.account) as step:
        store = step.warehouse
        current = store.query(
            f"SELECT {keys}, {', '.join(tracked)}, fetched_at FROM {{schema}}.{source} WHERE account = :account",
            step.bound,
        )
        step.total = len(current)
        observed_at = pd.Timestamp(current["fetched_at"].max()).to_pydatetime() if len(current) else now_utc()
        with step.transaction() as tx:
            adopted = adopt_columns_added_by_an_upgrade(tx, endpoint.name, source, key, tracked, context.log)
            opened, closed = tx.scd2(endpoint.name, current[[*key, *tracked]], key=key, tracked=tracked, at=observed_at)
            changed = closed  # each version closed by a change was replaced by one opened now
            # A key withdrawn from the source (a product no longer procurable) is no longer current either.
            matches = " AND ".join(f"s.{column} = h.{column}" for column in [ACCOUNT, *key])
            closed += tx.execute_count(
                f"UPDATE {{schema}}.{endpoint.name} AS h SET valid_to = :at WHERE h.account = :account "
                "AND valid_to IS NULL AND valid_from < :at "
                f"AND NOT EXISTS (SELECT 1 FROM {{schema}}.{source} AS s WHERE {matches})",
                {"at": observed_at},
            )
            open_versions = tx.query(
                f"SELECT {', '.join(f's.{column}' for column in key)}, count(h.valid_from) AS open_versions "
                f"FROM {{schema}}.{source} s LEFT JOIN {{schema}}.{endpoint.name} h ON "
                f"{matches} AND h.valid_to IS NULL WHERE s.account = :account "
                f"GROUP BY {', '.join(f's.{column}' for column in key)}"
            )
            step.close(tx, loaded=opened, message=f"{opened} versions opened, {closed} closed")
        yield one_open_version(open_versions)
        metadata = step.metadata(opened, step.table_rows(endpoint.name))
        metadata.update(
            {
                "versions_opened": opened,
                "versions_closed": closed,
                # Versions that replaced another (for prices: the price changes, rows of the price_changes view);
                # the other versions opened are keys seen for the first time.
                "changes": changed,
                "versions_adopting_new_columns": adopted,
            }
        )
        yield dg.MaterializeResult(metadata=metadata)


def adopt_columns_added_by_an_upgrade(
    tx: WarehouseTransaction,
    history: str,
    source: str,
    key: list[str],
    tracked: list[str],
    log: dg.DagsterLogManager,
) -> int:
    """A tracked column that an upgrade added (see schema_changes) is NULL in every version recorded before it.
    Its first values are not a change: an open version recorded before the column takes the value in place once
    its product's price has been fetched since, if the other tracked columns equal the current price (versions
    whose price did change keep NULL, not recorded then, and are closed by the SCD2 as usual). Decided per product:
    a price refused or unanswered in the first fetch after the upgrade is adopted when it is fetched, not versioned
    (the column was settled for every product at once, and such a product then opened a version that only said
    the column appeared). The column is settled once every open version recorded before it has had its chance."""
    pending = tx.query(
        "SELECT column_name, added_at FROM {schema}.schema_changes WHERE table_name = :history AND settled_at IS NULL",
        {"history": history},
    )
    added = {
        str(column): pd.Timestamp(at).to_pydatetime()
        for column, at in pending.itertuples(index=False)
        if column in tracked
    }
    adopted = 0
    same_key = " AND ".join(f"h.{column} = p.{column}" for column in [ACCOUNT, *key])
    for column, added_at in added.items():
        unchanged = " AND ".join(f"h.{other} IS NOT DISTINCT FROM p.{other}" for other in tracked if other not in added)
        before_the_column = "h.valid_to IS NULL AND h.valid_from < :added_at"
        took = tx.execute_count(
            f"UPDATE {{schema}}.{history} AS h SET {column} = p.{column} FROM {{schema}}.{source} AS p "
            f"WHERE {same_key} AND h.account = :account AND {before_the_column} AND p.fetched_at > :added_at "
            f"AND {unchanged} AND h.{column} IS NULL AND p.{column} IS NOT NULL",
            {"added_at": added_at},
        )
        adopted += took
        waiting = tx.query(
            f"SELECT count(*) AS n FROM {{schema}}.{history} AS h JOIN {{schema}}.{source} AS p "
            f"ON {same_key} WHERE {before_the_column} AND p.fetched_at <= :added_at",
            {"added_at": added_at},
        )["n"].iloc[0]
        if waiting == 0:
            tx.execute(
                "UPDATE {schema}.schema_changes SET settled_at = CURRENT_TIMESTAMP "
                "WHERE table_name = :history AND column_name = :column",
                {"history": history, "column": column},
            )
        log.info(
            f"{history}: {column} added by an upgrade; {took} open versions took its values"
            + (f", {waiting} wait for their price to be fetched" if waiting else "")
        )
    return adopted
