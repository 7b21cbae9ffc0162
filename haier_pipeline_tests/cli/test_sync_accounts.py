"""Several accounts in one deployment: `sync` runs them side by side, one process each, against their own gateways;
one account's wrong password fails that account alone; the code location has each account's assets, pools and
sensors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.cli.accounts import worst
from haier_pipeline.cli.main import main
from haier_pipeline.defs.outcomes import account_of
from haier_pipeline.instance import ACCOUNT_TAG
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config

ACCOUNTS = ("north", "south", "west")


@pytest.fixture
def three_gateways() -> Iterator[dict[str, RunningSimulator]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(start_simulator(simulator_config())) for name in ACCOUNTS}


@pytest.fixture
def accounts_env(
    three_gateways: dict[str, RunningSimulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    counties = ", ".join(f'"{code}"' for code in next(iter(three_gateways.values())).config.counties[:2])
    text = "[defaults]\n" + f'customer_code = "{SIMULATOR_CREDENTIALS["customer_code"]}"\ncounties = [{counties}]\n'
    for name, gateway in three_gateways.items():
        text += f'\n[account.{name}]\nbase_url = "{gateway.base_url}"\n'
    (tmp_path / "accounts.toml").write_text(text, encoding="utf-8")
    orders = tmp_path / "orders.csv"
    orders.write_text("order_code\nSO.20190106.000003\n", encoding="utf-8")
    env = {
        "HAIER_ACCOUNTS_FILE": str(tmp_path / "accounts.toml"),
        "HAIER_CLIENT_ID": SIMULATOR_CREDENTIALS["client_id"],
        "HAIER_CLIENT_SECRET": SIMULATOR_CREDENTIALS["client_secret"],
        "HAIER_PASSWORD": SIMULATOR_CREDENTIALS["password"],
        "HAIER_ORDERS_FILE": str(orders),
        "HAIER_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def rows_per_account(env: dict[str, str], table: str) -> dict[str, int]:
    warehouse = Warehouse.from_url(env["HAIER_WAREHOUSE_URL"])
    counted = warehouse.query(f"SELECT account, count(*) AS n FROM {{schema}}.{table} GROUP BY account")
    return dict(zip(counted["account"], counted["n"].astype(int), strict=True))


def test_accounts_sync_side_by_side_and_a_wrong_password_fails_only_its_account(
    accounts_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HAIER_WEST_PASSWORD", "not-the-password")
    assert main(["sync", "--only", "products,prices,catalog"]) == 1
    out, err = capsys.readouterr()
    blocks = {line.split(":")[0]: line for line in out.splitlines() if line.startswith("account ")}
    assert blocks["account north"].startswith("account north: ok (exit 0")
    assert blocks["account south"].startswith("account south: ok (exit 0")
    assert blocks["account west"].startswith("account west: failed (exit 1")
    assert "HAIER_WEST_<NAME>" in out, "the failed account's error says where its secrets are read from"
    assert "1 of 3 accounts did not finish cleanly: west (failed, exit 1); the others were written" in err
    assert "not-the-password" not in out + err

    products = rows_per_account(accounts_env, "products")
    assert products["north"] == products["south"] > 0 and "west" not in products
    assert rows_per_account(accounts_env, "catalog") == {"north": products["north"], "south": products["south"]}
    failed = Warehouse.from_url(accounts_env["HAIER_WAREHOUSE_URL"]).query(
        "SELECT account, sync_type FROM {schema}.sync_log WHERE status = 'failed'"
    )
    assert list(zip(failed["account"], failed["sync_type"], strict=True)) == [("west", "products")]

    # Each account's run is its own, tagged with it, on the one instance the UI reads.
    with dg.DagsterInstance.get() as instance:
        tagged = sorted(run.tags[ACCOUNT_TAG] for run in instance.get_runs())
    assert tagged == sorted(ACCOUNTS)


def test_accounts_at_once_bounds_how_many_run_together(
    accounts_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--only", "products", "--accounts-at-once", "1"]) == 0
    assert capsys.readouterr().out.count(": ok (exit 0") == 3
    with dg.DagsterInstance.get() as instance:
        runs = [
            (stats.start_time, stats.end_time)
            for run in instance.get_runs()
            if (stats := instance.get_run_stats(run.run_id))
        ]
    assert len(runs) == 3
    ordered = sorted(runs)
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(ordered)), "one after another"


def test_one_named_account_syncs_in_this_process(
    accounts_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "--account", "south", "--only", "products"]) == 0
    assert "(account south, " in capsys.readouterr().out
    assert set(rows_per_account(accounts_env, "products")) == {"south"}


def test_the_code_location_has_each_accounts_assets_pools_and_sensors(accounts_env: dict[str, str]) -> None:
    from haier_pipeline.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    for name in ACCOUNTS:
        products = graph.get(dg.AssetKey([name, "products"]))
        catalog = graph.get(dg.AssetKey([name, "catalog"]))
        assert products.group_name == catalog.group_name == f"haier_{name}"
        assert products.pools == {f"haier_api_{name}"}, "one API step per account at a time, accounts side by side"
        assert catalog.pools == {"warehouse_writer"}
        assert graph.get(dg.AssetKey([name, "prices"])).parent_keys == {dg.AssetKey([name, "products"])}
    sensors = {sensor.name: sensor for sensor in definitions.get_repository_def().sensor_defs}
    automation = sensors["haier_automation_sensor_north"]
    assert isinstance(automation, dg.AutomationConditionSensorDefinition)
    assert automation.run_tags == {ACCOUNT_TAG: "north"}
    assert {"orders_file_sensor_north", "orders_file_sensor_south", "orders_file_sensor_west"} <= set(sensors)


def test_a_run_launched_without_the_account_tag_is_still_named_by_its_steps() -> None:
    assert account_of({}, "north__products") == "north"
    assert account_of({}, "products") == "default"
    assert account_of({ACCOUNT_TAG: "south"}, "products") == "default", "a step is named by its key"
    assert account_of({ACCOUNT_TAG: "north,south"}, "(run)") == "north,south", "the run by its tag"


def test_the_exit_code_of_several_accounts_is_the_worst_of_theirs() -> None:
    assert worst([0, 3, 0]) == 3
    assert worst([3, 1]) == 1
    assert worst([1, 2, 0]) == 2
    assert worst([2, 130]) == 130
    assert worst([]) == 0
