"""The resources every asset and command shares, built from the environment in one place."""

from __future__ import annotations

import os

from dagster import ConfigurableResource, EnvVar

from haier_pipeline.haier import HaierClient
from haier_pipeline.settings import DEFAULT_ORDERS_FILE, DEFAULT_WAREHOUSE_URL, Settings, parse_county_codes
from haier_pipeline.warehouse import WarehouseResource


class PipelineSettings(ConfigurableResource):
    """What the assets need besides the API and the warehouse."""

    county_codes: str = ""
    orders_file: str = DEFAULT_ORDERS_FILE
    max_deactivate_ratio: float = 0.2
    max_rejected_ratio: float = 0.1

    def counties(self) -> tuple[str, ...]:
        """Resolved at run time, so an edited counties.csv counts without reloading the code location."""
        return parse_county_codes(self.county_codes)


# HaierClient field -> environment variable. Strings only: numbers are parsed once, below.
CLIENT_VARIABLES = {
    "base_url": "HAIER_BASE_URL",
    "client_id": "HAIER_CLIENT_ID",
    "client_secret": "HAIER_CLIENT_SECRET",
    "customer_code": "HAIER_CUSTOMER_CODE",
    "password": "HAIER_PASSWORD",
    "token_url": "HAIER_TOKEN_URL",
    "send_to_code": "HAIER_SEND_TO_CODE",
    "supplier_code": "HAIER_SUPPLIER_CODE",
    "seller_password": "HAIER_SELLER_PASSWORD",
    "customer_password": "HAIER_CUSTOMER_PASSWORD",
    "auth_scheme": "HAIER_AUTH_SCHEME",
}
REQUIRED_CLIENT_FIELDS = ("base_url", "client_id", "client_secret", "customer_code", "password")


def client_from_settings(settings: Settings) -> HaierClient:
    return HaierClient(
        **{field: getattr(settings, field) for field in CLIENT_VARIABLES},
        rate_limit=settings.rate_limit,
        timeout=settings.timeout,
    )


def resources_from_settings(settings: Settings) -> dict[str, ConfigurableResource]:
    return {
        "haier": client_from_settings(settings),
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "pipeline": PipelineSettings(
            county_codes=",".join(settings.county_codes),
            orders_file=settings.orders_file,
            max_deactivate_ratio=settings.max_deactivate_ratio,
            max_rejected_ratio=settings.max_rejected_ratio,
        ),
    }


def resources_for_definitions() -> dict[str, ConfigurableResource]:
    """For `dagster dev` and the daemon: secrets stay EnvVar references, resolved at launch, never stored
    in run config; the optional variables fall back to the contract's defaults."""
    haier = HaierClient(
        **{
            field: EnvVar(variable)
            for field, variable in CLIENT_VARIABLES.items()
            if field in REQUIRED_CLIENT_FIELDS or os.environ.get(variable)
        },
        rate_limit=float(os.environ.get("HAIER_RATE_LIMIT") or 100),
        timeout=float(os.environ.get("HAIER_TIMEOUT") or 30),
    )
    return {
        "haier": haier,
        "warehouse": WarehouseResource(url=os.environ.get("HAIER_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL),
        "pipeline": PipelineSettings(
            county_codes=os.environ.get("HAIER_COUNTY_CODES", ""),
            orders_file=os.environ.get("HAIER_ORDERS_FILE") or DEFAULT_ORDERS_FILE,
            max_deactivate_ratio=float(os.environ.get("HAIER_MAX_DEACTIVATE_RATIO") or 0.2),
            max_rejected_ratio=float(os.environ.get("HAIER_MAX_REJECTED_RATIO") or 0.1),
        ),
    }
