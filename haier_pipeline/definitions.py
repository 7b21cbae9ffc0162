"""The one Definitions of the code location: assets with their checks and automation conditions, the sensors that
watch the outside world, and the resources built from the one configuration model."""

from __future__ import annotations

import dagster as dg

from haier_pipeline.assets import ALL_ASSETS
from haier_pipeline.automation import SENSORS
from haier_pipeline.resources import resources_for_definitions
from haier_pipeline.settings import load_dotenv_file, load_settings

# EnvVar resources read the process environment, so `.env` goes there too (real variables win). A malformed
# variable stops the load here, and the UI shows the error naming every bad variable.
load_dotenv_file()

defs = dg.Definitions(
    assets=ALL_ASSETS,
    sensors=SENSORS,
    resources=resources_for_definitions(load_settings(require_credentials=False)),
    # One process per run: every step shares the run's rate limiter and token.
    executor=dg.in_process_executor,
)
