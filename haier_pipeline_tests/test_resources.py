"""The code location's resources: nothing secret is stored as a plain value (Dagster keeps those with the code
location and shows them in the UI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.defs.resources import resources_for_definitions, resources_from_settings
from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.settings import load_settings

ENVIRONMENT = {
    "HAIER_CLIENT_ID": "client-1",
    "HAIER_CLIENT_SECRET": "secret-value-123",
    "HAIER_CUSTOMER_CODE": "8800633175",
    "HAIER_PASSWORD": "password-value-456",
    "HAIER_COUNTY_CODES": "110101",
    "HAIER_BASE_URL": "https://gw.example.com",
}


@pytest.mark.parametrize(
    ("base_url", "token_url"),
    [
        ("https://gw.example.com", "https://gw.example.com/oauth2/auth?client_assertion=x&password=Pw-URL-4561"),
        ("https://user:Pw-URL-4561@gw.example.com", None),
    ],
)
def test_a_url_carrying_a_password_stays_an_env_var(
    monkeypatch: pytest.MonkeyPatch, base_url: str, token_url: str | None
) -> None:
    environment = {**ENVIRONMENT, "HAIER_BASE_URL": base_url, **({"HAIER_TOKEN_URL": token_url} if token_url else {})}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    haier = resources_for_definitions(load_settings(environment))["haier"]
    fields = haier._get_non_default_public_field_values()  # what Dagster stores as the resource's config
    assert "Pw-URL-4561" not in repr(fields)
    carrier = "token_url" if token_url else "base_url"
    assert fields[carrier] == dg.EnvVar(f"HAIER_{carrier.upper()}")


def test_a_plain_url_stays_a_plain_value(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = ENVIRONMENT
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    fields = resources_for_definitions(load_settings(environment))["haier"]._get_non_default_public_field_values()
    assert fields["base_url"] == "https://gw.example.com"


def test_both_clients_fall_back_alike_to_the_customer_code_the_password_and_the_gateway_token_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(ENVIRONMENT)
    for resources in (resources_from_settings(settings), resources_for_definitions(settings)):
        haier = resources["haier"].process_config_and_initialize()  # EnvVars resolved, as in a run worker
        assert haier.resolved("send_to_code") == "8800633175"
        assert haier.resolved("seller_password") == haier.resolved("customer_password") == "password-value-456"
        assert haier.resolved_token_url == settings.resolved_token_url == "https://gw.example.com/oauth2/auth"


def test_a_warehouse_url_with_a_password_stays_an_env_var_and_the_default_file_a_plain_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_password = {**ENVIRONMENT, "HAIER_WAREHOUSE_URL": "postgresql://etl:Pg-Pw-9931@db.example.com:5432/dw"}
    for name, value in with_password.items():
        monkeypatch.setenv(name, value)
    fields = resources_for_definitions(load_settings(with_password))["warehouse"]._get_non_default_public_field_values()
    assert fields["url"] == dg.EnvVar("HAIER_WAREHOUSE_URL")
    monkeypatch.delenv("HAIER_WAREHOUSE_URL")
    fields = resources_for_definitions(load_settings(ENVIRONMENT))["warehouse"]._get_non_default_public_field_values()
    assert "Pg-Pw-9931" not in repr(fields) and not isinstance(fields.get("url"), dg.EnvVar)


def load_code_location(tmp_path: Path, environment: dict[str, str]) -> str:
    """The code location loaded as `dg dev` loads it, in a process of its own: what it printed on stderr."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("HAIER_")} | environment
    done = subprocess.run(
        [sys.executable, "-c", "from haier_pipeline.definitions import defs; defs()"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_code_location_missing_a_credential_alerts_at_load(tmp_path: Path) -> None:
    """Every run, and every sensor tick that would start one, then failed before a run existed: no alert at all."""
    partial = {
        "HAIER_BASE_URL": "https://openplat-test.haier.net",
        "HAIER_CLIENT_ID": "id",
        "HAIER_CLIENT_SECRET": "secret-value-77",
        "HAIER_CUSTOMER_CODE": "8800633175",
    }
    err = load_code_location(tmp_path, partial)
    assert "ALERT haier-pipeline [default]: the code location has no HAIER_PASSWORD: every run" in err
    assert "secret-value-77" not in err
    assert "ALERT" not in load_code_location(tmp_path, {}), "a checkout nobody configured yet is no alert"


def test_a_credential_the_code_location_lacks_fails_the_run_naming_it_not_the_launch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As an EnvVar of an unset variable it failed the launch, in the UI, with Dagster's config error and stack, and
    no run existed to alert on."""
    partial = {name: value for name, value in ENVIRONMENT.items() if name != "HAIER_PASSWORD"}
    for name, value in partial.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HAIER_PASSWORD", raising=False)
    resources = resources_for_definitions(load_settings(partial, require_credentials=False))
    haier = resources["haier"].process_config_and_initialize()  # what a launch does: no config error
    with pytest.raises(HaierConfigurationError, match="HAIER_PASSWORD is not set"):
        haier.token()
    fields = resources["haier"]._get_non_default_public_field_values()
    assert fields["client_secret"] == dg.EnvVar("HAIER_CLIENT_SECRET"), "a secret that is set stays in the environment"
