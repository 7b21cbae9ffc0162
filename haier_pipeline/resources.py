"""The resources every asset and command shares, built from the one `Settings` model.

One source of values: the command line runs in-process with the values it validated; the Dagster code location
passes every secret as an `EnvVar`, resolved in the run worker and never stored in run config.
"""

from __future__ import annotations

import dagster as dg

from haier_pipeline.haier import HaierClient, HaierConfigurationError
from haier_pipeline.settings import CREDENTIAL_FIELDS, SECRET_FIELDS, Settings, county_weights, variable
from haier_pipeline.warehouse import WarehouseResource
from haier_pipeline.warehouse.url import mask_url


class PipelineSettings(dg.ConfigurableResource):
    """What the assets need besides the API and the warehouse. Defaults come from `Settings`."""

    county_codes: str = ""
    orders_file: str = Settings.model_fields["orders_file"].default
    max_deactivate_ratio: float = Settings.model_fields["max_deactivate_ratio"].default
    max_rejected_ratio: float = Settings.model_fields["max_rejected_ratio"].default
    # Most stock calls one stock step may make, and the seconds it may call for; None: every pair.
    stock_call_budget: int | None = None
    stock_deadline: float | None = None

    def counties(self) -> dict[str, float]:
        """County code -> weight, resolved at run time, so an edited counties.csv counts without reloading the
        code location."""
        try:
            return county_weights(self.county_codes)
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
            value = dg.EnvVar(variable(name)) if secrets_in_the_environment else settings.secret(name)
        elif name in ENVIRONMENT_FIELDS and secrets_in_the_environment:
            value = _kept_in_the_environment(value, name)
        fields[name] = value
    return HaierClient(**fields)


def pipeline_settings(settings: Settings) -> PipelineSettings:
    return PipelineSettings(
        # Empty: the step reads data/counties.csv itself, weights included (the codes alone would weigh 1 each).
        county_codes="" if settings.counties_from_file else ",".join(settings.county_codes),
        orders_file=settings.orders_file,
        max_deactivate_ratio=settings.max_deactivate_ratio,
        max_rejected_ratio=settings.max_rejected_ratio,
        stock_call_budget=settings.stock_call_budget,
        stock_deadline=settings.stock_deadline,
    )


def warehouse_resource(settings: Settings) -> WarehouseResource:
    return WarehouseResource(url=settings.warehouse_url, lock_timeout=settings.warehouse_lock_timeout)


def resources_from_settings(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """For the command line: the process already holds the validated values."""
    return {
        "haier": client_from_settings(settings),
        "warehouse": warehouse_resource(settings),
        "pipeline": pipeline_settings(settings),
    }


def resources_for_definitions(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """For the code location (`dg dev`, the daemon, run workers): the same validated values, except that secrets
    stay in the environment (see client_from_settings and _kept_in_the_environment)."""
    haier = client_from_settings(settings, secrets_in_the_environment=True)
    warehouse = WarehouseResource(
        url=_kept_in_the_environment(settings.warehouse_url, "warehouse_url"),
        lock_timeout=settings.warehouse_lock_timeout,
    )
    return {"haier": haier, "warehouse": warehouse, "pipeline": pipeline_settings(settings)}


def _kept_in_the_environment(value: str, field_name: str) -> str | dg.EnvVar:
    """A value carrying a secret (a URL with a password in its userinfo or query: whatever mask_url masks) stays an
    EnvVar: Dagster stores a resource's plain values with the code location and shows them in the UI."""
    return dg.EnvVar(variable(field_name)) if mask_url(value) != value else value
