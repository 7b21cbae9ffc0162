"""One sensor per account evaluates the automation condition of each of its assets (declared per endpoint as its
cadence, see `conditions.py`): each account's runs are its own, tagged with it, so one account's failure never
holds another's back."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.accounts import account_key
from haier_pipeline.defs.haier_catalog.assets import group_of
from haier_pipeline.defs.resources import code_location_settings
from haier_pipeline.instance import ACCOUNT_TAG


def automation_sensor(account: str) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        account_key("haier_automation_sensor", account),
        target=dg.AssetSelection.groups(group_of(account)),
        run_tags={ACCOUNT_TAG: account},
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description=f"Evaluates the automation condition of account {account}'s assets: roots on their "
        "Asia/Shanghai cadence, price_history and catalog after their parents.",
    )


@dg.definitions
def automation() -> dg.Definitions:
    return dg.Definitions(sensors=[automation_sensor(account) for account in code_location_settings().accounts])
