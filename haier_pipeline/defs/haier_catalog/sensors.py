"""The orders file is outside Dagster's view: a sensor requests the steps that track its orders when it changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from haier_pipeline.accounts import DEFAULT_ACCOUNT, account_key
from haier_pipeline.defs.haier_catalog.assets import asset_key
from haier_pipeline.endpoints import endpoints
from haier_pipeline.endpoints.declaration import FromOrdersFile
from haier_pipeline.instance import ACCOUNT_TAG
from haier_pipeline.settings import DEFAULT_ORDERS_FILE


def file_version(path: Path) -> str | None:
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def orders_file_sensor(account: str = DEFAULT_ACCOUNT, orders_file: str = DEFAULT_ORDERS_FILE) -> dg.SensorDefinition:
    """Requests a run of the account's endpoints whose items are the orders when its orders file changes."""
    tracking = [endpoint.name for endpoint in endpoints() if isinstance(endpoint.items, FromOrdersFile)]

    @dg.sensor(
        name=account_key("orders_file_sensor", account),
        target=dg.AssetSelection.assets(*(asset_key(account, name) for name in tracking)),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a run of account {account}'s {', '.join(tracking)} when {orders_file} changes: once "
        "per version of the file.",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return orders_changed(context, Path(orders_file), account)

    return sensor


def orders_changed(context: dg.SensorEvaluationContext, path: Path, account: str) -> dg.SensorResult:
    version = file_version(path)
    if version is None:
        return dg.SensorResult(skip_reason=f"{path} does not exist (HAIER_ORDERS_FILE)")
    seen, _, changes = (context.cursor or "").partition("/")
    if version == seen:
        return dg.SensorResult(skip_reason=f"{path} unchanged (version {version})")
    # The run key names the change, not the version: Dagster never runs a key twice, so a file put back as it was
    # (a bad edit undone) ran nothing.
    change = int(changes or 0) + 1
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"orders-{change}-{version}", tags={ACCOUNT_TAG: account})],
        cursor=f"{version}/{change}",
    )
