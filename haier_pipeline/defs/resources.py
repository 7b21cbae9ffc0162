"""The resources every asset and command shares, built from the one `Settings` model, and the code location's.

One source of values: the command line runs in-process with the values it validated; the Dagster code location
passes every secret as an `EnvVar`, resolved in the run worker and never stored in run config.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from haier_pipeline.accounts import DEFAULT_ACCOUNT, account_key
from haier_pipeline.defs.alerts.audit import alerts
from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.settings import (
    CREDENTIAL_FIELDS,
    DEFAULT_COUNTIES_FILE,
    SECRET_FIELDS,
    Settings,
    counties_in_file,
    default,
    load_dotenv_file,
    load_settings,
    variable,
)
from haier_pipeline.warehouse.tables import DEFAULT_SCHEMA
from haier_pipeline.warehouse.url import mask_url
from haier_pipeline.warehouse.warehouse import Warehouse, shared_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """HAIER_WAREHOUSE_URL as a resource. `get_warehouse()` is cached per process and URL, and the
    schema is ensured on its first call in a process."""

    url: str = default("warehouse_url")
    schema_name: str = DEFAULT_SCHEMA
    # Seconds a step waits for a DuckDB file another process holds, or a Postgres lock another session holds.
    lock_timeout: float = default("warehouse_lock_timeout")

    def get_warehouse(self) -> Warehouse:
        # The schema is ensured once per process, waiting only `lock_timeout` for a file another process holds, so
        # such a file fails the step after the configured time, naming the holder.
        warehouse = shared_warehouse(self.url, self.schema_name, lock_timeout=self.lock_timeout)
        # One process-wide Warehouse per URL; every resource of a process comes from one Settings. A step reads before
        # it writes, so its reads wait the configured time too, not the default 60 s.
        warehouse._backend.write_timeout = self.lock_timeout
        warehouse._backend.read_timeout = self.lock_timeout
        return warehouse

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The URL may carry a Postgres password; pydantic builds both repr() and str() from this.
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if name == "url" and isinstance(value, str) else value)


class PipelineSettings(dg.ConfigurableResource):
    """What the assets need besides the API and the warehouse. Defaults come from `Settings`."""

    # County code -> weight; empty: those of `counties_file`, read when the step runs (an edited file counts without
    # reloading the code location).
    county_weights: dict[str, float] = Field(default_factory=dict)
    counties_file: str = DEFAULT_COUNTIES_FILE
    orders_file: str = default("orders_file")
    max_deactivate_ratio: float = default("max_deactivate_ratio")
    max_rejected_ratio: float = default("max_rejected_ratio")
    # Most stock calls one stock step may make, and the seconds it may call for; None: every pair.
    stock_call_budget: int | None = None
    stock_deadline: float | None = None

    def counties(self) -> dict[str, float]:
        """County code -> weight, the file's read at run time, so an edited counties.csv counts without reloading the
        code location."""
        if self.county_weights:
            return dict(self.county_weights)
        try:
            return counties_in_file(Path(self.counties_file))
        except ValueError as error:
            raise HaierConfigurationError([str(error)]) from None


# HaierClient fields that are plain values of Settings, and those the code location takes from the environment when
# missing or holding a secret (see _kept_in_the_environment). An optional one left unset is not passed: the client
# falls back itself (haier.client.FALLBACKS), also when its fallback is an EnvVar.
CLIENT_FIELDS = (
    "send_to_code",
    "supplier_code",
    "auth_scheme",
    "success_codes",
    "rate_limit",
    "timeout",
    "allow_insecure_http",
)
ENVIRONMENT_FIELDS = ("base_url", "client_id", "customer_code", "token_url")


def client_from_settings(settings: Settings, *, secrets_in_the_environment: bool = False) -> HaierClient:
    """The client with the validated values: the command line runs in-process with them; the code location
    (`secrets_in_the_environment`) passes every secret, and every value holding one, as an `EnvVar`, resolved when a
    run starts. A credential the code location lacks is passed empty: the run then starts and its first API step
    fails naming the variable (as an EnvVar of an unset variable, the launch failed with Dagster's config error and
    stack, and no run existed to alert on)."""
    fields = {}
    for name in (*ENVIRONMENT_FIELDS, *SECRET_FIELDS, *CLIENT_FIELDS):
        value = getattr(settings, name)
        if value is None and name not in CREDENTIAL_FIELDS:
            continue
        if secrets_in_the_environment and name in CREDENTIAL_FIELDS and not value:
            value = ""
        elif name in SECRET_FIELDS:
            value = dg.EnvVar(settings.variable_of(name)) if secrets_in_the_environment else settings.secret(name)
        elif name in ENVIRONMENT_FIELDS and secrets_in_the_environment:
            value = _kept_in_the_environment(value, settings.variable_of(name))
        fields[name] = value
    return HaierClient(**fields)


def pipeline_settings(settings: Settings) -> PipelineSettings:
    return PipelineSettings(
        # Empty: the step reads data/counties.csv itself, so an edited file counts without a reload.
        county_weights={} if settings.counties_from_file else settings.county_codes,
        counties_file=settings.counties_file,
        orders_file=settings.orders_file,
        max_deactivate_ratio=settings.max_deactivate_ratio,
        max_rejected_ratio=settings.max_rejected_ratio,
        stock_call_budget=settings.stock_call_budget,
        stock_deadline=settings.stock_deadline,
    )


def warehouse_resource(settings: Settings) -> WarehouseResource:
    return WarehouseResource(url=settings.warehouse_url, lock_timeout=settings.warehouse_lock_timeout)


def resources_from_settings(settings: Settings, account: str = DEFAULT_ACCOUNT) -> dict[str, dg.ConfigurableResource]:
    """For the command line, which runs one account per process: the process already holds the validated values."""
    chosen = settings.account(account)
    return {
        "warehouse": warehouse_resource(settings),
        account_key("haier", account): client_from_settings(chosen),
        account_key("pipeline", account): pipeline_settings(chosen),
    }


def resources_for_definitions(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """For the code location (`dg dev`, the daemon, run workers): every account's client and settings, with the
    same validated values, except that secrets stay in the environment (see client_from_settings and
    _kept_in_the_environment)."""
    warehouse = WarehouseResource(
        url=_kept_in_the_environment(settings.warehouse_url, variable("warehouse_url")),
        lock_timeout=settings.warehouse_lock_timeout,
    )
    resources: dict[str, dg.ConfigurableResource] = {"warehouse": warehouse}
    for name, account in settings.accounts.items():
        resources[account_key("haier", name)] = client_from_settings(account, secrets_in_the_environment=True)
        resources[account_key("pipeline", name)] = pipeline_settings(account)
    return resources


def _kept_in_the_environment(value: str, held_in: str) -> str | dg.EnvVar:
    """A value carrying a secret (a URL with a password in its userinfo or query: whatever mask_url masks) stays an
    EnvVar of the variable `held_in`: Dagster stores a resource's plain values with the code location and shows them
    in the UI."""
    return dg.EnvVar(held_in) if mask_url(value) != value else value


def alert_on_missing_credentials(settings: Settings) -> None:
    """Missing credentials do not stop the load (the UI still shows the assets), but every run then fails at its
    first API step. A partial configuration is a mistake worth an alert before the first run; none at all is a
    checkout nobody configured yet."""
    for name, account in settings.accounts.items():
        missing = [account.variable_of(field) for field in CREDENTIAL_FIELDS if not getattr(account, field)]
        if missing and len(missing) < len(CREDENTIAL_FIELDS):
            alerts.error(
                f"ALERT haier-pipeline [{name}]: the code location has no {', '.join(missing)}: every run of account "
                f"{name} fails at its first API step until it is set in the environment of `dg dev` or the daemon (or "
                "in .env) and the code location is reloaded; `haier-pipeline check` lists it"
            )


def code_location_settings() -> Settings:
    """The settings the code location loads with: `.env` goes into the process environment (the resources' EnvVars
    read it there; real variables win), and credentials may be missing (a run then fails naming them). A malformed
    variable stops the load: the UI shows the error naming every bad variable."""
    load_dotenv_file()
    return load_settings(require_credentials=False)


@dg.definitions
def resources() -> dg.Definitions:
    settings = code_location_settings()
    alert_on_missing_credentials(settings)
    # One process per run: every step shares the run's rate limiter and token.
    return dg.Definitions(resources=resources_for_definitions(settings), executor=dg.in_process_executor)
