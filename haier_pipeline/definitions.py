"""The one Definitions of the code location: assets with their checks and automation conditions, the sensors that
watch the outside world, and the resources built from the one configuration model."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.assets import ALL_ASSETS
from haier_pipeline.audit import alerts
from haier_pipeline.automation import SENSORS
from haier_pipeline.resources import resources_for_definitions
from haier_pipeline.settings import CREDENTIAL_FIELDS, Settings, load_dotenv_file, load_settings, variable

# EnvVar resources read the process environment, so `.env` goes there too (real variables win). A malformed
# variable stops the load here, and the UI shows the error naming every bad variable.
load_dotenv_file()


def alert_on_missing_credentials(settings: Settings) -> None:
    """Missing credentials do not stop the load (the UI still shows the assets), but every run then fails at its
    first API step. A partial configuration is a mistake worth an alert before the first run; none at all is a
    checkout nobody configured yet."""
    missing = [variable(name) for name in CREDENTIAL_FIELDS if not getattr(settings, name)]
    if missing and len(missing) < len(CREDENTIAL_FIELDS):
        alerts.error(
            f"ALERT haier-pipeline: the code location has no {', '.join(missing)}: every run fails at its first API "
            "step until it is set in the environment of `dg dev` or the daemon (or in .env) and the code location "
            "is reloaded; `haier-pipeline check` lists it"
        )


settings = load_settings(require_credentials=False)
alert_on_missing_credentials(settings)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    sensors=SENSORS,
    resources=resources_for_definitions(settings),
    # One process per run: every step shares the run's rate limiter and token.
    executor=dg.in_process_executor,
)
