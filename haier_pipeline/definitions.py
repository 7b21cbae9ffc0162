"""The one Definitions of the code location: assets with their checks, jobs, schedules, sensors, resources."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from haier_pipeline.assets import ALL_ASSETS
from haier_pipeline.automation import JOBS, SCHEDULES, SENSORS
from haier_pipeline.resources import resources_for_definitions
from haier_pipeline.settings import load_dotenv_file

load_dotenv_file()

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=resources_for_definitions(),
    # One process per run: every step shares the run's rate limiter and token.
    executor=in_process_executor,
)
