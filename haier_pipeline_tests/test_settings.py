from __future__ import annotations

import pytest

from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.settings import load_settings

MINIMAL = {
    "HAIER_BASE_URL": "http://127.0.0.1:9",
    "HAIER_CLIENT_ID": "id",
    "HAIER_CLIENT_SECRET": "secret-value-123",
    "HAIER_CUSTOMER_CODE": "8800633175",
    "HAIER_PASSWORD": "password-value-456",
    "HAIER_COUNTY_CODES": "110101,310104",
}


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(HaierConfigurationError) as raised:
        load_settings({"HAIER_COUNTY_CODES": "110101"})
    message = str(raised.value)
    for name in (
        "HAIER_BASE_URL",
        "HAIER_CLIENT_ID",
        "HAIER_CLIENT_SECRET",
        "HAIER_CUSTOMER_CODE",
        "HAIER_PASSWORD",
    ):
        assert name in message
    assert "haier-pipeline check" in message


def test_malformed_values_are_named() -> None:
    env = {
        **MINIMAL,
        "HAIER_RATE_LIMIT": "fast",
        "HAIER_COUNTY_CODES": "110101,1101",
        "HAIER_AUTH_SCHEME": "basic",
        "HAIER_MAX_DEACTIVATE_RATIO": "2",
    }
    with pytest.raises(HaierConfigurationError) as raised:
        load_settings(env)
    problems = "\n".join(raised.value.problems)
    assert "HAIER_RATE_LIMIT='fast'" in problems
    assert "'1101'" in problems
    assert "HAIER_AUTH_SCHEME" in problems
    assert "HAIER_MAX_DEACTIVATE_RATIO" in problems


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(MINIMAL)
    assert settings.token_url == "http://127.0.0.1:9/oauth2/auth"
    assert settings.send_to_code == "8800633175"
    assert settings.supplier_code == "1001"
    assert settings.seller_password == settings.customer_password == "password-value-456"
    assert settings.rate_limit == 100
    assert settings.timeout == 30
    assert settings.warehouse_url == "duckdb:///data/haier.duckdb"
    assert settings.max_deactivate_ratio == 0.2
    assert settings.max_rejected_ratio == 0.1
    assert settings.county_codes == ("110101", "310104")


def test_masked_configuration_shows_no_secret() -> None:
    settings = load_settings({**MINIMAL, "HAIER_WAREHOUSE_URL": "postgresql://etl:pg-pass-789@db/warehouse"})
    shown = str(settings.masked()) + repr(settings)
    for secret in ("secret-value-123", "password-value-456", "pg-pass-789"):
        assert secret not in shown
    assert settings.masked()["warehouse_url"] == "postgresql://etl:******@db/warehouse"


def test_county_codes_come_from_the_counties_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counties.csv").write_text(
        "county_code,name\n110101,东城区\n440106,天河区\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    env = {key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"}
    assert load_settings(env).county_codes == ("110101", "440106")
