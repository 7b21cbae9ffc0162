"""One asset per endpoint declaration: the asset owns the warehouse table of the same name, takes its group, owners,
kinds, column schema, checks, pool, automation condition and freshness policy from the declaration, and runs the
step its write disposition calls for.

No `from __future__ import annotations` here: Dagster reads the step function's context annotation as a type."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from haier_pipeline.defs.automation.conditions import condition_for, policy_for
from haier_pipeline.defs.haier_catalog.checks import check_specs
from haier_pipeline.defs.haier_catalog.runners import StepResources, runner_for
from haier_pipeline.endpoints import Endpoint, endpoints
from haier_pipeline.endpoints.declaration import Pool
from haier_pipeline.warehouse.tables import build_tables
from haier_pipeline.warehouse.url import parse_warehouse_url

GROUP = "haier_catalog"
OWNERS = ["team:dealer-data"]
# The rate limit is per account, not per run: every API-calling step across all runs shares one slot. DuckDB has one
# writer per file: steps that only write queue in their pool instead of hitting the lock.
POOLS = {Pool.API: "haier_api", Pool.WAREHOUSE: "warehouse_writer"}


def column_schema(name: str) -> dg.TableSchema:
    """The warehouse table's columns as the UI shows them, constraints included; a key of several columns is named
    as the table's constraint, since none of its columns is unique alone."""
    columns = build_tables()[name].columns
    key = [column.name for column in columns if column.primary_key]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                description=column.comment or "",
                constraints=dg.TableColumnConstraints(nullable=bool(column.nullable), unique=key == [column.name]),
            )
            for column in columns
        ],
        constraints=dg.TableConstraints(other=[f"primary key ({', '.join(key)})"]) if key else None,
    )


def warehouse_kind(warehouse_url: str) -> str:
    """The UI's storage icon: the backend of the configured warehouse."""
    return parse_warehouse_url(warehouse_url).backend


def asset_for(endpoint: Endpoint, kind: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(endpoint.name)
    run = runner_for(endpoint.write)
    resources = {"warehouse", "pipeline", *(["haier"] if endpoint.request else [])}

    @dg.asset(
        key=key,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "pandas", kind},
        pool=POOLS[endpoint.pool],
        deps=[dg.AssetKey(dep) for dep in endpoint.deps],
        description=endpoint.description,
        metadata={
            "dagster/column_schema": column_schema(endpoint.name),
            "dagster/table_name": f"haier.{endpoint.name}",
        },
        check_specs=check_specs(endpoint, key),
        automation_condition=condition_for(endpoint.cadence),
        freshness_policy=policy_for(endpoint.freshness),
        required_resource_keys=resources,
    )
    def materialize(context: dg.AssetExecutionContext) -> Iterator[Any]:
        given = StepResources(
            warehouse=context.resources.warehouse,
            pipeline=context.resources.pipeline,
            haier=getattr(context.resources, "haier", None) if endpoint.request else None,
        )
        yield from run(context, endpoint, given)

    return materialize


def catalog_assets(warehouse_url: str) -> list[dg.AssetsDefinition]:
    """Every endpoint's asset, in dependency order."""
    kind = warehouse_kind(warehouse_url)
    return [asset_for(endpoint, kind) for endpoint in endpoints()]
