"""The one configuration model: defaults, every problem named at once, masking, and the same model behind the
Dagster resources (EnvVar secrets) and the definitions' load errors."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.defs.resources import PipelineSettings, resources_for_definitions, resources_from_settings
from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.settings import Settings, load_settings, variable

MINIMAL = {
    "HAIER_BASE_URL": "http://127.0.0.1:9",
    "HAIER_CLIENT_ID": "id",
    "HAIER_CLIENT_SECRET": "secret-value-123",
    "HAIER_CUSTOMER_CODE": "8800633175",
    "HAIER_PASSWORD": "password-value-456",
    "HAIER_COUNTY_CODES": "110101,310104",
}


def problem_list(env: dict[str, str]) -> list[str]:
    with pytest.raises(HaierConfigurationError) as raised:
        load_settings(env)
    return raised.value.problems


def problems_of(env: dict[str, str]) -> str:
    return "\n".join(problem_list(env))


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(HaierConfigurationError) as raised:
        load_settings({"HAIER_COUNTY_CODES": "110101"})
    message = str(raised.value)
    for name in ("HAIER_BASE_URL", "HAIER_CLIENT_ID", "HAIER_CLIENT_SECRET", "HAIER_CUSTOMER_CODE", "HAIER_PASSWORD"):
        assert f"{name} is not set" in message
    assert "haier-pipeline check" in message


def test_every_malformed_value_is_named_at_once() -> None:
    env = {
        **MINIMAL,
        "HAIER_RATE_LIMIT": "abc",
        "HAIER_TIMEOUT": "0",
        "HAIER_COUNTY_CODES": "110101,1101",
        "HAIER_AUTH_SCHEME": "oauth",
        "HAIER_MAX_DEACTIVATE_RATIO": "2",
        "HAIER_WAREHOUSE_LOCK_TIMEOUT": "soon",
        "HAIER_STOCK_CALL_BUDGET": "-5",
        "HAIER_WAREHOUSE_URL": "mysql://bob:pg-pass-789@db/warehouse",
    }
    problems = problems_of(env)
    for named in (
        "HAIER_RATE_LIMIT='abc'",
        "HAIER_TIMEOUT='0'",
        "'1101'",
        "HAIER_AUTH_SCHEME='oauth'",
        "HAIER_MAX_DEACTIVATE_RATIO='2'",
        "HAIER_WAREHOUSE_LOCK_TIMEOUT='soon'",
        "HAIER_STOCK_CALL_BUDGET='-5'",
        "unsupported scheme 'mysql'",
    ):
        assert named in problems, (named, problems)
    assert len(problem_list(env)) == 8
    assert "pg-pass-789" not in problems


@pytest.mark.parametrize(
    ("codes", "says"),
    [
        # A Chinese input method types full-width digits and commas; \d took the digits, and the API refused them.
        ("110101,３１０１０４", "'３１０１０４' has characters that are not ASCII (full-width digits or commas, "),
        ("110101,３１０１０４", "are not accepted): type it as 310104"),
        ("110101，310104", "'110101，310104' has characters that are not ASCII"),
        ("110101，310104", "type it as 110101,310104"),
        ("110101,٣١٠١٠٤", "'٣١٠١٠٤' is not 6 digits"),  # Arabic-Indic digits: \d took them too
    ],
)
def test_county_codes_are_six_ascii_digits(codes: str, says: str) -> None:
    (problem,) = problem_list({**MINIMAL, "HAIER_COUNTY_CODES": codes})
    assert problem.startswith("HAIER_COUNTY_CODES: county codes are 6 ASCII digits (e.g. 110101): "), problem
    assert says in problem, problem


def test_rate_limit_zero_is_refused() -> None:
    assert "HAIER_RATE_LIMIT='0'" in problems_of({**MINIMAL, "HAIER_RATE_LIMIT": "0"})


@pytest.mark.parametrize("url", ["duckdb:///x.duckdb", "postgresql://u@h/db"])
def test_warehouse_urls_the_pipeline_can_open_are_accepted(url: str) -> None:
    assert load_settings({**MINIMAL, "HAIER_WAREHOUSE_URL": url}).warehouse_url == url


@pytest.mark.parametrize("url", ["sqlite:///x.db", "data/warehouse.duckdb", "mysql://db/w", "duckdb:///:memory:"])
def test_warehouse_urls_it_cannot_open_are_named(url: str) -> None:
    assert "HAIER_WAREHOUSE_URL" in problems_of({**MINIMAL, "HAIER_WAREHOUSE_URL": url})


def test_plain_http_only_to_loopback_unless_allowed() -> None:
    remote = {**MINIMAL, "HAIER_BASE_URL": "http://gateway.example.com", "HAIER_TOKEN_URL": "http://t.example.com/a"}
    problems = problems_of(remote)
    assert "HAIER_BASE_URL='http://gateway.example.com' uses plain http to a host that is not loopback" in problems
    assert "HAIER_TOKEN_URL" in problems and "HAIER_ALLOW_INSECURE_HTTP=1" in problems
    assert load_settings({**remote, "HAIER_ALLOW_INSECURE_HTTP": "1"}).base_url == "http://gateway.example.com"
    assert load_settings({**MINIMAL, "HAIER_BASE_URL": "http://localhost:8765/"}).base_url == "http://localhost:8765"
    assert load_settings({**MINIMAL, "HAIER_BASE_URL": "https://openplat.haier.net"}).base_url


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(MINIMAL)
    assert settings.resolved_token_url == "http://127.0.0.1:9/oauth2/auth"
    assert settings.resolved_send_to_code == "8800633175"
    assert settings.supplier_code == "1001"
    assert settings.secret("seller_password") == settings.secret("customer_password") == "password-value-456"
    assert settings.auth_scheme is None, "detected (the bare token first); HAIER_AUTH_SCHEME pins it"
    assert settings.success_codes is None, "read by meaning; HAIER_SUCCESS_CODES pins them"
    assert settings.rate_limit == 100
    assert settings.timeout == 30
    assert settings.warehouse_url == "duckdb:///data/warehouse.duckdb"
    assert settings.warehouse_lock_timeout == 60
    assert settings.max_deactivate_ratio == 0.2
    assert settings.max_rejected_ratio == 0.1
    assert settings.stock_cache_ttl == 300
    assert settings.stock_call_budget is None
    assert settings.allow_insecure_http is False
    assert tuple(settings.county_codes) == ("110101", "310104")
    # The resources take their defaults from the model, not from copies.
    assert PipelineSettings().max_rejected_ratio == settings.max_rejected_ratio
    assert PipelineSettings().orders_file == settings.orders_file


def test_masked_configuration_shows_no_secret() -> None:
    settings = load_settings(
        {**MINIMAL, "HAIER_WAREHOUSE_URL": "postgresql://etl:pg-pass-789@db/warehouse?sslpassword=pg-key-321"}
    )
    shown = str(settings.masked()) + repr(settings) + str(settings)
    for secret in ("secret-value-123", "password-value-456", "pg-pass-789", "pg-key-321"):
        assert secret not in shown
    assert settings.masked()["warehouse_url"] == "postgresql://etl:***@db/warehouse?sslpassword=***"
    assert settings.masked()["client_secret"] == "****** (16 chars)"


def test_environment_and_dotenv_feed_the_same_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in MINIMAL:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("HAIER_CLIENT_ID=from-dotenv\nHAIER_RATE_LIMIT=50\nHAIER_STOCK_CALL_BUDGET=7\n")
    for name, value in MINIMAL.items():
        if name != "HAIER_CLIENT_ID":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_RATE_LIMIT", "40")  # a real variable wins over .env
    settings = load_settings()
    assert (settings.client_id, settings.rate_limit, settings.stock_call_budget) == ("from-dotenv", 40, 7)
    assert resources_from_settings(settings)["pipeline"].stock_call_budget == 7


def test_county_codes_come_from_the_counties_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counties.csv").write_text(
        "county_code,name\n110101,东城区\n440106,天河区\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    env = {key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"}
    assert tuple(load_settings(env).county_codes) == ("110101", "440106")
    # A hand-written header with blanks names the same columns.
    (tmp_path / "data" / "counties.csv").write_text(" county_code , weight\n110101, 2\n", encoding="utf-8")
    assert tuple(load_settings(env).county_codes) == ("110101",)
    (tmp_path / "data" / "counties.csv").unlink()
    assert "data/counties.csv does not exist" in problems_of(env)


def test_the_weights_of_the_counties_file_reach_the_stock_step_of_sync_and_of_the_code_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget asks heavier counties first; `sync` handed the step the file's codes alone, each weighing 1."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counties.csv").write_text("county_code,weight\n110101,2.5\n440106,\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    env = {key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"}
    for resources in (resources_from_settings(load_settings(env)), resources_for_definitions(load_settings(env))):
        assert resources["pipeline"].counties() == {"110101": 2.5, "440106": 1.0}
    # HAIER_COUNTY_CODES names the counties instead, each weighing 1.
    listed = resources_from_settings(load_settings({**env, "HAIER_COUNTY_CODES": "310104,110101"}))
    assert listed["pipeline"].counties() == {"310104": 1.0, "110101": 1.0}


def test_definitions_resources_keep_secrets_as_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in MINIMAL.items():
        monkeypatch.setenv(name, value)
    resources = resources_for_definitions(load_settings({**MINIMAL, "HAIER_RATE_LIMIT": "50"}))
    haier = resources["haier"]
    assert isinstance(haier, HaierClient)
    fields = haier._get_non_default_public_field_values()  # what Dagster stores as the resource's config
    for name in ("client_secret", "password"):
        assert fields[name] == dg.EnvVar(f"HAIER_{name.upper()}")
    assert fields["rate_limit"] == 50
    assert "secret-value-123" not in repr(fields) and "password-value-456" not in repr(fields)


def test_definitions_load_without_credentials_but_not_with_a_malformed_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI's code location loads before credentials exist; a malformed variable is a load error naming it (the UI
    shows the exception's message as the location's load error)."""
    import haier_pipeline.definitions as definitions

    monkeypatch.chdir(tmp_path)  # no .env, no data/counties.csv
    for name in [key for key in os.environ if key.startswith("HAIER_")]:
        monkeypatch.delenv(name)
    try:
        assert importlib.reload(definitions).defs().resolve_asset_graph()
        monkeypatch.setenv("HAIER_RATE_LIMIT", "abc")
        monkeypatch.setenv("HAIER_AUTH_SCHEME", "oauth")
        with pytest.raises(Exception) as raised:
            importlib.reload(definitions).defs()
        # Dagster's loader names the module that failed, and its cause is the configuration error itself.
        cause = raised.value.__cause__
        assert isinstance(cause, HaierConfigurationError), raised.value
        assert "HAIER_RATE_LIMIT='abc'" in str(cause) and "HAIER_AUTH_SCHEME='oauth'" in str(cause)
    finally:
        monkeypatch.undo()
        importlib.reload(definitions)


FLOAT_VARIABLES = [
    variable(name)
    for name, field in Settings.model_fields.items()
    if field.annotation in (float, float | None)  # every float setting, the ones added later too
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", FLOAT_VARIABLES)
def test_a_float_setting_must_be_a_finite_number(name: str, value: str) -> None:
    assert f"{name}={value!r}: Input should be a finite number" in problems_of({**MINIMAL, name: value})


def test_an_http_url_in_capitals_is_that_url_and_other_mistakes_are_named() -> None:
    """`HTTP://127.0.0.1:9` was refused as "not an http(s) URL"; a URL without its scheme was refused the same way."""
    settings = load_settings(
        {**MINIMAL, "HAIER_BASE_URL": "HTTP://127.0.0.1:9/", "HAIER_TOKEN_URL": "HTTP://LOCALHOST:9/a"}
    )
    assert settings.base_url == "http://127.0.0.1:9" and settings.token_url == "http://localhost:9/a"
    problems = problem_list(
        {**MINIMAL, "HAIER_BASE_URL": "openplat.haier.net", "HAIER_TOKEN_URL": "htps://t.haier.net/a"}
    )
    assert "HAIER_BASE_URL='openplat.haier.net': no scheme: write https://openplat.haier.net" in problems
    assert (
        "HAIER_TOKEN_URL='htps://t.haier.net/a': not an http(s) URL as written: did you mean https://t.haier.net/a?"
        in (problems)
    )
    secret = problems_of({**MINIMAL, "HAIER_TOKEN_URL": "htps://id:tok-secret-77@t.haier.net/a"})
    assert "tok-secret-77" not in secret and "id:***@" in secret


def test_the_alert_webhook_and_ui_urls_are_checked_and_the_webhook_never_shown() -> None:
    hook = "https://hooks.slack.com/services/T0/B0/hook-secret-123"
    settings = load_settings({**MINIMAL, "HAIER_ALERT_WEBHOOK_URL": hook, "HAIER_UI_URL": "HTTP://Dagster.Local:3000/"})
    assert settings.alert_webhook_url == hook and settings.ui_url == "http://dagster.local:3000"
    assert settings.masked()["alert_webhook_url"] == "https://hooks.slack.com/***"
    assert "hook-secret-123" not in repr(settings) and "hook-secret-123" not in str(settings)
    assert load_settings(MINIMAL).ui_url == "http://127.0.0.1:3000"
    problems = problems_of(
        {**MINIMAL, "HAIER_ALERT_WEBHOOK_URL": "htps://hooks.slack.com/services/T0/B0/hook-secret-123"}
    )
    assert "HAIER_ALERT_WEBHOOK_URL='htps://hooks.slack.com/***': not an http(s) URL" in problems
    assert "hook-secret-123" not in problems
    plain = problems_of({**MINIMAL, "HAIER_ALERT_WEBHOOK_URL": "http://hooks.example.com/x"})
    assert "plain http to a host that is not loopback" in plain
