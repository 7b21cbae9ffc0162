"""The sensor that evaluates every asset's automation condition (declared per endpoint as its cadence, see
`conditions.py`)."""

from __future__ import annotations

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "haier_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition: roots on their Asia/Shanghai cadence, "
    "price_history and catalog after their parents.",
)
