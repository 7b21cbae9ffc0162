"""The accounts file (HAIER_ACCOUNTS_FILE): each account's settings fall back field by field to [defaults] and to the
HAIER_* variables, its secrets to HAIER_<NAME>_<SECRET> and then HAIER_<SECRET>; every problem of every account is
named at once; a secret written in the file is refused with its line, its value never repeated."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.defs.resources import resources_for_definitions, resources_from_settings
from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.settings import load_settings

SHARED = {
    "HAIER_BASE_URL": "https://gw.example.com",
    "HAIER_CLIENT_ID": "client-1",
    "HAIER_CLIENT_SECRET": "secret-value-123",
    "HAIER_CUSTOMER_CODE": "8800000000",
    "HAIER_PASSWORD": "password-value-456",
    "HAIER_COUNTY_CODES": "110101",
}
ACCOUNTS = """
[defaults]
supplier_code = "2002"

[account.north]
customer_code = "8800000001"
send_to_code = "8800000002"
counties = ["110101", "310104"]
rate_limit = 50

[account.south]
base_url = "https://gw-south.example.com"
"""


def accounts_file(tmp_path: Path, text: str = ACCOUNTS) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(environment: dict[str, str]) -> list[str]:
    with pytest.raises(HaierConfigurationError) as raised:
        load_settings(environment)
    return raised.value.problems


def test_without_a_file_the_variables_are_the_one_account_named_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no data/accounts.toml here
    settings = load_settings(SHARED)
    assert list(settings.accounts) == ["default"]
    assert settings.account("default") is settings and settings.customer_code == "8800000000"


def test_each_field_falls_back_to_the_defaults_then_to_the_variables(tmp_path: Path) -> None:
    environment = {**SHARED, "HAIER_ACCOUNTS_FILE": str(accounts_file(tmp_path))}
    settings = load_settings(environment)
    north, south = settings.account("north"), settings.account("south")
    assert list(settings.accounts) == ["north", "south"]
    assert (north.name, south.name) == ("north", "south")
    assert north.customer_code == "8800000001" and south.customer_code == "8800000000"  # the variable's
    assert north.resolved_send_to_code == "8800000002" and south.resolved_send_to_code == "8800000000"
    assert north.supplier_code == south.supplier_code == "2002"  # [defaults]
    assert north.base_url == "https://gw.example.com" and south.base_url == "https://gw-south.example.com"
    assert north.county_codes == {"110101": 1.0, "310104": 1.0} and south.county_codes == {"110101": 1.0}
    assert (north.rate_limit, south.rate_limit) == (50.0, 100.0)


def test_secrets_come_from_the_accounts_variables_then_the_shared_ones(tmp_path: Path) -> None:
    environment = {
        **SHARED,
        "HAIER_ACCOUNTS_FILE": str(accounts_file(tmp_path)),
        "HAIER_NORTH_PASSWORD": "north-password-1",
        "HAIER_NORTH_CLIENT_ID": "north-client",
    }
    settings = load_settings(environment)
    north, south = settings.account("north"), settings.account("south")
    assert north.secret("password") == "north-password-1" and north.client_id == "north-client"
    assert north.secret("seller_password") == "north-password-1"  # the account's own password, as without accounts
    assert south.secret("password") == "password-value-456" and south.client_id == "client-1"

    # The code location hands each account's client the variable its secret was read from, never the value.
    resources = resources_for_definitions(settings)
    fields = {name: resources[f"haier_{name}"]._get_non_default_public_field_values() for name in ("north", "south")}
    assert fields["north"]["password"] == dg.EnvVar("HAIER_NORTH_PASSWORD")
    assert fields["south"]["password"] == dg.EnvVar("HAIER_PASSWORD")
    assert "north-password-1" not in repr(fields) and "password-value-456" not in repr(fields)
    assert set(resources) == {"warehouse", "haier_north", "pipeline_north", "haier_south", "pipeline_south"}
    assert resources["pipeline_north"].county_weights == {"110101": 1.0, "310104": 1.0}

    # The command line runs one account per process, with the values themselves.
    one = resources_from_settings(settings, "north")
    assert set(one) == {"warehouse", "haier_north", "pipeline_north"}
    assert one["haier_north"].resolved("password") == "north-password-1"


def test_a_secret_in_the_file_is_refused_naming_its_line_and_never_its_value(tmp_path: Path) -> None:
    text = ACCOUNTS.replace("rate_limit = 50", 'rate_limit = 50\npassword = "Leaked-Pw-0427"')
    problems = problems_of({**SHARED, "HAIER_ACCOUNTS_FILE": str(accounts_file(tmp_path, text))})
    line = text.splitlines().index('password = "Leaked-Pw-0427"') + 1
    assert any(
        f"line {line}: password is a secret" in problem and "HAIER_<NAME>_PASSWORD" in problem for problem in problems
    )
    assert "Leaked-Pw-0427" not in repr(problems)


def test_every_problem_of_every_account_is_named_at_once(tmp_path: Path) -> None:
    text = """
[defaults]
base_url = "ftp://gw.example.com"

[account.North]
customer_code = "1"

[account.south]
rate_limit = "fast"
counties = ["110101", "12"]
colour = "red"

[accounts.west]
"""
    problems = "\n".join(problems_of({**SHARED, "HAIER_ACCOUNTS_FILE": str(accounts_file(tmp_path, text))}))
    assert "[account.south]: colour is not a field of an account" in problems
    assert "the account name 'North' keys every row" in problems
    assert "[accounts] is not a table this file has" in problems
    assert "[defaults] base_url='ftp://gw.example.com': not an http(s) URL" in problems
    assert problems.count("[defaults] base_url") == 1, "a shared mistake is named once, not once per account"
    assert "account south:" in problems and "[account.south] rate_limit='fast'" in problems
    assert "[account.south] counties: county codes are 6 ASCII digits" in problems


def test_a_name_that_cannot_be_an_account_is_named_alone_not_with_variables_no_shell_can_set(tmp_path: Path) -> None:
    environment = {name: value for name, value in SHARED.items() if name != "HAIER_PASSWORD"}
    environment["HAIER_ACCOUNTS_FILE"] = str(accounts_file(tmp_path, "[account.West-1]\n[account.north]\n"))
    problems = "\n".join(problems_of(environment))
    assert "the account name 'West-1' keys every row" in problems
    assert "HAIER_WEST-1_" not in problems
    assert "account north: HAIER_NORTH_PASSWORD (or HAIER_PASSWORD) is not set" in problems


def test_an_account_missing_a_credential_names_both_variables_it_could_come_from(tmp_path: Path) -> None:
    environment = {name: value for name, value in SHARED.items() if name != "HAIER_PASSWORD"}
    environment["HAIER_ACCOUNTS_FILE"] = str(accounts_file(tmp_path))
    environment["HAIER_SOUTH_PASSWORD"] = "south-password"
    problems = problems_of(environment)
    assert problems == ["account north: HAIER_NORTH_PASSWORD (or HAIER_PASSWORD) is not set"]


def test_the_default_file_is_read_when_it_exists_and_a_named_one_must(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    accounts_file(tmp_path / "data")
    assert list(load_settings(SHARED).accounts) == ["north", "south"]
    problems = problems_of({**SHARED, "HAIER_ACCOUNTS_FILE": "elsewhere.toml"})
    assert problems == [
        "HAIER_ACCOUNTS_FILE='elsewhere.toml' does not exist: create it ([defaults] (optional), then one "
        '[account.NAME] per account, e.g. [account.north] customer_code = "...") or unset the variable'
    ]


def test_a_bad_accounts_file_is_a_configuration_error_of_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SHARED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(accounts_file(tmp_path, "[account.north\n")))
    for command in (["sync"], ["check"], ["query", "balance"]):
        assert main(command) == 2
        assert "is not valid TOML" in capsys.readouterr().err


def test_a_command_for_one_account_names_the_accounts_when_it_is_not_told_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SHARED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(accounts_file(tmp_path)))
    assert main(["query", "balance"]) == 2
    assert "there are 2 accounts (north, south): name one with --account NAME" in capsys.readouterr().err
    assert main(["query", "balance", "--account", "east"]) == 2
    assert "no account is named 'east': the accounts are north, south" in capsys.readouterr().err
    assert main(["sync", "--account", "north", "--account", "east"]) == 2
    assert "no account is named 'east'" in capsys.readouterr().err
