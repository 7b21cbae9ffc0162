"""The automation: conditions on the assets evaluated with Dagster's tester, and the two sensors that watch the
outside world (the orders file, failed runs) evaluated with `build_sensor_context` against real instances."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.definitions import defs as code_location
from haier_pipeline.defs.automation.conditions import follows_parents, policy_for, ui_reading
from haier_pipeline.defs.haier_catalog.sensors import orders_file_sensor
from haier_pipeline.endpoints import endpoints
from haier_pipeline.endpoints.declaration import Freshness
from haier_pipeline.shanghai_time import SHANGHAI

defs = code_location()
ALL_ASSETS = [asset for asset in defs.assets or [] if isinstance(asset, dg.AssetsDefinition)]
FRESHNESS = {endpoint.name: policy_for(endpoint.freshness) for endpoint in endpoints() if endpoint.freshness}
ASSETS = ["products", "prices", "price_history", "stock_snapshots", "catalog", "account_balances", "logistics_events"]


def test_definitions_have_no_jobs_or_schedules_only_conditions_and_outside_world_sensors() -> None:
    repository = defs.get_repository_def()
    assert not repository.schedule_defs
    assert all(job.name.startswith("__") for job in repository.get_all_jobs()), "only Dagster's implicit jobs"
    assert {sensor.name for sensor in repository.sensor_defs} == {
        "haier_automation_sensor",
        "orders_file_sensor",
        "run_failure_alert_sensor",
    }
    for asset in ALL_ASSETS:
        (key,) = asset.keys
        name = key.to_user_string()
        assert asset.automation_conditions_by_key[key] is not None, name
        assert asset.specs_by_key[key].freshness_policy == FRESHNESS[name], f"{name}: its cadence's policy"
        assert not asset.partitions_def, f"{name}: no partitions, so the UI offers no impossible day"
    assert set(FRESHNESS) == set(ASSETS)


def requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, int]:
    return {
        name: result.get_num_requested(dg.AssetKey(name))
        for name in ASSETS
        if result.get_num_requested(dg.AssetKey(name))
    }


def at(hour: int, minute: int, day: int = 26) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def materialize_everything(instance: dg.DagsterInstance) -> None:
    for name in ASSETS:
        instance.report_runless_asset_event(dg.AssetMaterialization(name))


def test_roots_run_on_their_shanghai_cadence_and_the_catalog_follows() -> None:
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(5, 0))
        materialize_everything(instance)
        quiet = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(5, 10), cursor=first.cursor
        )
        assert requested(quiet) == {}

        morning = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(6, 31), cursor=quiet.cursor
        )
        # 06:30: products, and in the same run prices (waiting for products), their history and the catalog;
        # the hourly balance and the half-hourly logistics; not stock.
        assert requested(morning) == {
            "products": 1,
            "prices": 1,
            "price_history": 1,
            "catalog": 1,
            "account_balances": 1,
            "logistics_events": 1,
        }
        materialize_everything(instance)
        after_products = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(6, 40), cursor=morning.cursor
        )
        assert requested(after_products) == {}, "each tick once"

        stock_time = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(11, 1), cursor=after_products.cursor
        )
        # Stock at 11:00 without waiting for a new products listing; the catalog with it; the hourly balance.
        assert requested(stock_time) == {
            "stock_snapshots": 1,
            "catalog": 1,
            "account_balances": 1,
            "logistics_events": 1,
        }
        evening_gap = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(11, 20), cursor=stock_time.cursor
        )
        assert "stock_snapshots" not in requested(evening_gap), "once per tick"


def test_many_stock_updates_rebuild_the_catalog_once() -> None:
    with dg.instance_for_test() as instance:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at(12, 0))
        materialize_everything(instance)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(12, 5), cursor=result.cursor
        )
        for _ in range(5):  # five stock runs land between two evaluations (a burst of CLI syncs, a re-run)
            instance.report_runless_asset_event(dg.AssetMaterialization("stock_snapshots"))
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(12, 10), cursor=result.cursor
        )
        assert requested(result) == {"catalog": 1}
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=at(12, 11), cursor=result.cursor
        )
        assert requested(result) == {}, "and not again until the stock changes again"


def parent_and_child(condition: dg.AutomationCondition, child_fails: list[bool]) -> dg.Definitions:
    @dg.asset
    def parent() -> None: ...

    @dg.asset(deps=[parent], automation_condition=condition)
    def child() -> None:
        if child_fails[0]:
            raise RuntimeError("the run ended before this step")

    @dg.asset
    def elsewhere() -> None: ...

    return dg.Definitions(assets=[parent, child, elsewhere])


def run_of_parent_and_child(toy: dg.Definitions, instance: dg.DagsterInstance) -> bool:
    """A run targeting both, as the UI, a sensor or the automation launches it."""
    job = toy.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey("parent"), dg.AssetKey("child")]
    return job.execute_in_process(asset_selection=selection, instance=instance, raise_on_error=False).success


def test_a_derived_table_a_run_did_not_reach_is_rebuilt_on_the_next_tick_and_only_then() -> None:
    """A run of prices and price_history that died between the two left price_history behind for good: eager()
    leaves a parent's update to the run that also targeted the child."""
    for condition, caught_up in ((follows_parents(), 1), (dg.AutomationCondition.eager(), 0)):
        child_fails = [False]
        toy = parent_and_child(condition, child_fails)
        child = dg.AssetKey("child")
        with dg.instance_for_test() as instance:
            assert run_of_parent_and_child(toy, instance), "yesterday's run reached both"
            result = dg.evaluate_automation_conditions(defs=toy, instance=instance, evaluation_time=at(12, 0))
            child_fails[0] = True
            assert not run_of_parent_and_child(toy, instance)
            for minute in (5, 6):
                result = dg.evaluate_automation_conditions(
                    defs=toy, instance=instance, evaluation_time=at(12, minute), cursor=result.cursor
                )
                assert result.get_num_requested(child) == (caught_up if minute == 5 else 0), condition.get_label()
            child_fails[0] = False
            assert run_of_parent_and_child(toy, instance)
            result = dg.evaluate_automation_conditions(
                defs=toy, instance=instance, evaluation_time=at(12, 10), cursor=result.cursor
            )
            assert result.get_num_requested(child) == 0, "a run that updated both leaves nothing to catch up"


def evaluate_orders_sensor(orders: Path, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor)
    result = orders_file_sensor(orders_file=str(orders))(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_orders_sensor_fires_once_per_version_of_the_file(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    assert not evaluate_orders_sensor(orders, None).run_requests, "no file, no run"

    orders.write_text("order_code\nSO.20190106.000003\n")
    first = evaluate_orders_sensor(orders, None)
    (request,) = first.run_requests
    assert request.run_key.startswith("orders-")
    assert not evaluate_orders_sensor(orders, first.cursor).run_requests, "same version: no second run"

    orders.write_text("order_code\nSO.20190106.000003\nSO.20250612.004217\n")
    second = evaluate_orders_sensor(orders, first.cursor)
    assert second.run_requests[0].run_key != request.run_key
    assert not evaluate_orders_sensor(orders, second.cursor).run_requests

    # A bad edit undone puts the file back as it was: a change too (Dagster runs no run key twice, so a key named
    # after the version ran nothing).
    orders.write_text("order_code\nSO.20190106.000003\n")
    back = evaluate_orders_sensor(orders, second.cursor)
    (again,) = back.run_requests
    assert again.run_key not in {request.run_key, second.run_requests[0].run_key}
    assert not evaluate_orders_sensor(orders, back.cursor).run_requests


def test_freshness_windows_cover_the_cadence() -> None:
    # Stock runs 08:00-20:00: the 12 h night must not fail its freshness; the hourly and half-hourly roots allow a
    # missed tick's worth of slack before failing.
    assert FRESHNESS["stock_snapshots"].fail_window.to_timedelta() > timedelta(hours=12)
    assert FRESHNESS["account_balances"].fail_window.to_timedelta() > timedelta(hours=1)
    assert FRESHNESS["logistics_events"].fail_window.to_timedelta() > timedelta(minutes=30)


def test_every_freshness_policy_reads_in_the_ui_as_it_was_meant() -> None:
    """The UI said "Fails if more than 13 hours / Warns if more than 13 hours" for 13 h and 12 h 30 min: it rounds a
    window to one unit (moment's humanize). Every window now reads as what it is, and a warning never as its failure."""
    said = {}
    for name, policy in FRESHNESS.items():
        warn = policy.warn_window.to_timedelta() if policy.warn_window else None
        said[name] = (ui_reading(policy.fail_window.to_timedelta()), warn and ui_reading(warn))
    assert said == {
        "products": ("2 days", "a day"),
        "prices": ("2 days", "a day"),
        "price_history": ("2 days", "a day"),
        "stock_snapshots": ("13 hours", None),
        "catalog": ("13 hours", None),
        "account_balances": ("2 hours", None),
        "logistics_events": ("an hour", "40 minutes"),
    }


def test_the_ui_reading_is_moments_and_a_window_it_would_misstate_is_refused() -> None:
    # moment.duration(x).humanize(), as the UI's freshness line calls it (dagster-webui, TimeWindowFreshnessPolicy)
    for window, words in [
        (timedelta(minutes=40), "40 minutes"),
        (timedelta(minutes=45), "an hour"),
        (timedelta(minutes=90), "2 hours"),
        (timedelta(hours=12, minutes=30), "13 hours"),
        (timedelta(hours=21), "21 hours"),
        (timedelta(hours=22), "a day"),
        (timedelta(hours=26), "a day"),
        (timedelta(hours=36), "2 days"),
        (timedelta(days=26), "a month"),
    ]:
        assert ui_reading(window) == words, window
    with pytest.raises(ValueError, match=r"warn_after=12:30:00 would read as '13 hours' in the Dagster UI"):
        policy_for(Freshness(warn_after=timedelta(hours=12, minutes=30), fail_after=timedelta(hours=13)))
    with pytest.raises(ValueError, match=r"fail_after=1 day, 2:00:00 would read as 'a day'"):
        policy_for(Freshness(warn_after=timedelta(days=1), fail_after=timedelta(hours=26)))
    with pytest.raises(ValueError, match="must be shorter"):
        policy_for(Freshness(warn_after=timedelta(hours=2), fail_after=timedelta(hours=2)))
