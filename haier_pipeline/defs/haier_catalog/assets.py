"""One asset per endpoint declaration: the asset owns the warehouse table of the same name, takes its group, owners,
kinds, column schema, checks, pool, automation condition and freshness policy from the declaration, and runs the
step its write disposition calls for.

No `from __future__ import annotations` here: Dagster reads the step function's context annotation as a type."""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from haier_pipeline.accounts import DEFAULT_ACCOUNT, account_key
from haier_pipeline.defs.automation.conditions import condition_for, policy_for
from haier_pipeline.defs.haier_catalog.checks import check_specs
from haier_pipeline.defs.haier_catalog.runners import StepResources, runner_for
from haier_pipeline.endpoints import Endpoint, endpoints
from haier_pipeline.endpoints.declaration import Pool
from haier_pipeline.warehouse.tables import build_tables
from haier_pipeline.warehouse.url import parse_warehouse_url

GROUP = "haier_catalog"
OWNERS = ["team:dealer-data"]
# The rate limit is per account: every API-calling step of an account, across all runs and machines, shares its one
# slot, and other accounts run beside it. DuckDB has one writer per file: steps that only write queue in one pool
# instead of hitting the lock.
API_POOL = "haier_api"
WAREHOUSE_POOL = "warehouse_writer"


# One set of assets per account. The single account of a setup without an accounts file (`default`) keeps the names it
# always had; any other account prefixes them (`north/products`, the group `haier_north`, the pool `haier_api_north`,
# the resources `haier_north` and `pipeline_north`).
def asset_key(account: str, name: str) -> dg.AssetKey:
    return dg.AssetKey(name) if account == DEFAULT_ACCOUNT else dg.AssetKey([account, name])


def group_of(account: str) -> str:
    return GROUP if account == DEFAULT_ACCOUNT else f"haier_{account}"


def pool_of(endpoint: Endpoint, account: str) -> str:
    return account_key(API_POOL, account) if endpoint.pool is Pool.API else WAREHOUSE_POOL


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


def asset_for(endpoint: Endpoint, account: str, kind: str) -> dg.AssetsDefinition:
    key = asset_key(account, endpoint.name)
    run = runner_for(endpoint.write)
    pipeline, haier = account_key("pipeline", account), account_key("haier", account)
    resources = {"warehouse", pipeline, *([haier] if endpoint.request else [])}

    @dg.asset(
        key=key,
        group_name=group_of(account),
        owners=OWNERS,
        kinds={"python", "pandas", kind},
        pool=pool_of(endpoint, account),
        deps=[asset_key(account, dep) for dep in endpoint.deps],
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
            pipeline=getattr(context.resources, pipeline),
            haier=getattr(context.resources, haier) if endpoint.request else None,
            account=account,
        )
        yield from run(context, endpoint, given)

    return materialize


def catalog_assets(warehouse_url: str, accounts: Sequence[str] = (DEFAULT_ACCOUNT,)) -> list[dg.AssetsDefinition]:
    """Every endpoint's asset for each account, in dependency order."""
    kind = warehouse_kind(warehouse_url)
    return [asset_for(endpoint, account, kind) for account in accounts for endpoint in endpoints()]
