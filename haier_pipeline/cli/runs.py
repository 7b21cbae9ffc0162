"""Materialize a selection of assets in-process on a Dagster instance: what `sync`, `demo` and the tests
run. In-process means one rate limiter and one token for the whole run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.defs.haier_catalog.assets import asset_key, catalog_assets, pool_of
from haier_pipeline.defs.outcomes import asset_of
from haier_pipeline.endpoints import endpoint, steps
from haier_pipeline.instance import ACCOUNT_TAG, WAREHOUSE_TAG
from haier_pipeline.warehouse.url import warehouse_label


def unknown_steps(only: Sequence[str]) -> list[str]:
    return [name for name in only if name not in steps()]


def selected_assets(only: Sequence[str] | None) -> list[str]:
    """The assets of the `sync` steps named (default: every step), in dependency order."""
    declared = steps()
    names = list(only) if only else list(declared)
    if unknown := unknown_steps(names):
        raise ValueError(f"unknown step {', '.join(map(repr, unknown))}; choose from {','.join(declared)}")
    return [asset for name in declared if name in names for asset in declared[name]]


def pools_of(assets: Sequence[str], account: str = DEFAULT_ACCOUNT) -> list[str]:
    """The concurrency pools the account's steps of these assets take a slot of (dagster.yaml limits each)."""
    return sorted({pool_of(endpoint(name), account) for name in assets})


def run_assets(
    assets: Sequence[str],
    resources: Mapping[str, Any],
    instance: dg.DagsterInstance | None = None,
    tags: Mapping[str, str] | None = None,
    console_log_level: str = "DEBUG",
    account: str = DEFAULT_ACCOUNT,
) -> dg.ExecuteInProcessResult:
    """One account's assets, in one run tagged with it. The console log level only changes what this process prints;
    the instance keeps every event.

    The resources are handed over as the objects they are, not as configuration: Dagster stores a configurable
    resource's values as config defaults in every run's job snapshot, secrets included, which the UI then shows."""
    warehouse = resources["warehouse"]
    # What the UI shows of the run: the warehouse it wrote to and its account (a caller's tags win).
    tags = {
        WAREHOUSE_TAG: warehouse_label(warehouse.url, warehouse.schema_name),
        ACCOUNT_TAG: account,
        **(tags or {}),
    }
    return dg.materialize(
        catalog_assets(warehouse.url, [account]),
        selection=[asset_key(account, name) for name in assets],
        resources={name: dg.ResourceDefinition.hardcoded_resource(value) for name, value in resources.items()},
        instance=instance,
        raise_on_error=False,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": console_log_level}}}},
    )


def steps_not_run(result: dg.ExecuteInProcessResult, assets: Sequence[str]) -> list[str]:
    """Selected steps that never started: a step they depend on failed. Dagster only logs a line for them (no
    event), and they write no sync_log row."""
    started = {
        asset_of(event.step_key or "")
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_START
    }
    return [asset for asset in assets if asset not in started]
