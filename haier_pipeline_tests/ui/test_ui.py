"""The Dagster UI shows what the CLI did: assets, checks, schedules, sensors over GraphQL, then in Chromium.

Select with `pytest haier_pipeline_tests/ui` (no custom marker). Needs `apt-get install chromium` for the browser
part; in CI a missing browser fails, elsewhere it skips.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

from haier_pipeline.warehouse.url import warehouse_label
from haier_pipeline_tests.ui.conftest import (
    LOCATION_NAME,
    REPOSITORY_NAME,
    UI_TIMEOUT_MS,
    DagsterUI,
    alive,
    descendants,
)

GROUP = "haier_catalog"
ASSETS = {"products", "prices", "price_history", "stock_snapshots", "catalog", "account_balances", "logistics_events"}
SENSORS = {"haier_automation_sensor", "orders_file_sensor", "run_failure_alert_sensor"}
REPOSITORY = {"repositoryName": REPOSITORY_NAME, "repositoryLocationName": LOCATION_NAME}

ASSETS_QUERY = """
query Assets($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    groupName
    isPartitioned
    assetMaterializations(limit: 1) { runId timestamp partition }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks { name blocking executionForLatestMaterialization { runId status } }
      }
    }
  }
}
"""

AUTOMATION_QUERY = """
query Automation($repository: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repository) {
    __typename
    ... on Schedules { results { name cronSchedule executionTimezone scheduleState { status } } }
    ... on PythonError { message }
  }
  sensorsOrError(repositorySelector: $repository) {
    __typename
    ... on Sensors { results { name sensorType sensorState { status } } }
    ... on PythonError { message }
  }
}
"""

RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter, limit: 20) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
    ... on PythonError { message }
  }
}
"""


def asset_nodes(ui: DagsterUI) -> dict[str, dict[str, Any]]:
    data = ui.graphql(ASSETS_QUERY, {"group": {"groupName": GROUP, **REPOSITORY}})
    return {"/".join(node["assetKey"]["path"]): node for node in data["assetNodes"]}


def runs(ui: DagsterUI, **run_filter: Any) -> list[dict[str, Any]]:
    answer = ui.graphql(RUNS_QUERY, {"filter": run_filter})["runsOrError"]
    assert answer["__typename"] == "Runs", answer
    return answer["results"]


def test_every_asset_is_materialized_by_the_cli_run_and_has_checks(dagster_ui: DagsterUI) -> None:
    nodes = asset_nodes(dagster_ui)
    assert nodes.keys() >= ASSETS, f"assets in group {GROUP}: {sorted(nodes)}"

    for name in sorted(ASSETS):
        node = nodes[name]
        assert node["assetMaterializations"], f"{name} has no materialization in the UI's instance"
        latest = node["assetMaterializations"][0]
        assert latest["runId"] == dagster_ui.cli_run_id, f"{name}: latest materialization {latest}"
        assert not node["isPartitioned"], f"{name}: no partitions, so the UI offers no impossible stock day"
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", f"{name}: {checks}"
        assert checks["checks"], f"{name} has no asset check"

    stock = nodes["stock_snapshots"]["assetMaterializations"][0]
    assert stock["partition"] is None, stock

    product_checks = {check["name"]: check for check in nodes["products"]["assetChecksOrError"]["checks"]}
    assert {"schema_gate", "deactivation_guard"} <= product_checks.keys(), sorted(product_checks)
    for name in ("schema_gate", "deactivation_guard"):
        check = product_checks[name]
        assert check["blocking"], f"products.{name} should block downstream assets"
        execution = check["executionForLatestMaterialization"]
        assert execution == {"runId": dagster_ui.cli_run_id, "status": "SUCCEEDED"}, f"products.{name}: {execution}"

    (cli_run,) = runs(dagster_ui, runIds=[dagster_ui.cli_run_id])
    assert cli_run["status"] == "SUCCESS", cli_run
    assert {"key": "haier/source", "value": "cli"} in cli_run["tags"], cli_run["tags"]
    # The day the stock snapshot stands for is on the run, as the step recorded it.
    assert {"key": "haier/stock_day", "value": dagster_ui.stock_partition} in cli_run["tags"], cli_run["tags"]
    # The warehouse it wrote to (no secret in it) and its account.
    label = warehouse_label(dagster_ui.warehouse_url)
    assert {"key": "haier/warehouse", "value": label} in cli_run["tags"], cli_run["tags"]
    assert {"key": "haier/account", "value": "default"} in cli_run["tags"], cli_run["tags"]


METADATA_QUERY = """
query Metadata($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      assetMaterializations(limit: 2) {
        runId
        metadataEntries {
          __typename
          label
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
          ... on TableMetadataEntry {
            table { records schema { columns { name type description } } }
          }
        }
      }
    }
  }
}
"""


def materialization_entries(ui: DagsterUI, asset: str) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """The asset's last two materializations as the UI reads them, newest first: (run id, entries by label)."""
    node = ui.graphql(METADATA_QUERY, {"key": {"path": [asset]}})["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    return [
        (event["runId"], {entry["label"]: entry for entry in event["metadataEntries"]})
        for event in node["assetMaterializations"]
    ]


def test_the_ui_reads_a_table_preview_and_a_numeric_series(dagster_ui: DagsterUI) -> None:
    """What the UI draws: a sortable table (a schema with types) and numbers it plots over the materializations."""
    (latest_run, latest), (first_run, first) = materialization_entries(dagster_ui, "stock_snapshots")
    assert (latest_run, first_run) == (dagster_ui.cli_run_id, dagster_ui.first_run_id)
    by_county = latest["stock_by_county"]
    assert by_county["__typename"] == "TableMetadataEntry", by_county
    columns = by_county["table"]["schema"]["columns"]
    assert [(column["name"], column["type"]) for column in columns] == [
        ("county_code", "string"),
        ("total_stock", "int"),
        ("products_in_stock", "int"),
        ("products_checked", "int"),
    ]
    rows = [json.loads(record) for record in by_county["table"]["records"]]
    assert {row["county_code"] for row in rows} == set(dagster_ui.simulator.config.counties)
    # A series: the same numeric entry at both materializations.
    for entries in (first, latest):
        assert entries["total_stock"]["__typename"] == "IntMetadataEntry", entries["total_stock"]
        assert entries["pairs_in_stock"]["__typename"] == "IntMetadataEntry"
        assert entries["coverage_pct"] == {
            "__typename": "FloatMetadataEntry",
            "label": "coverage_pct",
            "floatValue": 100.0,
        }
    assert latest["total_stock"]["intValue"] == sum(row["total_stock"] for row in rows) > 0

    ((_, catalog), _) = materialization_entries(dagster_ui, "catalog")
    preview = catalog["preview"]
    assert preview["__typename"] == "TableMetadataEntry"
    types = {column["name"]: column["type"] for column in preview["table"]["schema"]["columns"]}
    assert (types["product_code"], types["supply_price"], types["is_sales"]) == ("string", "float", "bool")
    assert catalog["products_on_sale"]["__typename"] == "IntMetadataEntry"


def test_no_schedules_and_the_sensors_are_running(dagster_ui: DagsterUI) -> None:
    data = dagster_ui.graphql(AUTOMATION_QUERY, {"repository": REPOSITORY})
    schedules = data["schedulesOrError"]
    sensors = data["sensorsOrError"]
    assert schedules["__typename"] == "Schedules", schedules
    assert sensors["__typename"] == "Sensors", sensors
    assert schedules["results"] == [], "the cadence is declared on the assets (automation conditions)"
    sensor_states = {item["name"]: item for item in sensors["results"]}
    assert sensor_states.keys() == SENSORS, sorted(sensor_states)
    for name in SENSORS:
        assert sensor_states[name]["sensorState"]["status"] == "RUNNING", sensor_states[name]
    assert sensor_states["haier_automation_sensor"]["sensorType"] == "AUTO_MATERIALIZE"  # Dagster's name for it


def test_no_supersession_warning_in_the_ui_log(dagster_ui: DagsterUI) -> None:
    log = dagster_ui.log_path.read_text(errors="replace")
    assert "SupersessionWarning" not in log, log[-3000:]


def open_page(page: Any, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_load_state("networkidle", timeout=UI_TIMEOUT_MS)


def test_asset_graph_page_shows_every_asset(
    page: Any, page_errors: list[str], dagster_ui: DagsterUI, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{dagster_ui.base_url}/locations/{LOCATION_NAME}/asset-groups/{GROUP}")
    for name in sorted(ASSETS):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    # Every node has its live data (latest event, checks) once loaded.
    expect(page.get_by_text("Latest event", exact=True)).to_have_count(len(ASSETS))
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    page.wait_for_timeout(1000)  # the graph zooms to fit after the layout
    page.screenshot(path=str(artifacts / "asset-graph.png"))

    body = page.inner_text("body")
    assert "Asset Group in" in body and GROUP in body, body[:500]
    assert re.search(r"\d+ / \d+ Passed", body), "no asset check summary on the graph"
    assert not page_errors, page_errors


def test_asset_page_shows_the_latest_materialization(
    page: Any, page_errors: list[str], dagster_ui: DagsterUI, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{dagster_ui.base_url}/assets/catalog")
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
    status = page.locator("body")
    expect(status).to_contain_text(
        re.compile(r"Latest materialization\s*(a few seconds|\d+ seconds|a minute|\d+ minutes) ago")
    )
    active = len(dagster_ui.simulator.dataset.procurable_codes)  # the listing: the simulator's procurable products
    expect(status).to_contain_text(re.compile(rf"Row count\s*{active}(?!\d)"))
    expect(page.get_by_text("haier.catalog", exact=True).first).to_be_visible()  # storage address
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "asset-catalog.png"))

    open_page(page, f"{dagster_ui.base_url}/assets/catalog?view=events")
    expect(page.get_by_text("Materialized in run").first).to_be_visible()
    expect(page.get_by_text(dagster_ui.cli_run_id[:8], exact=True).first).to_be_visible()
    page.screenshot(path=str(artifacts / "asset-catalog-events.png"))
    assert not page_errors, page_errors


def test_asset_page_shows_a_table_preview_and_plots_the_numeric_metadata(
    page: Any, page_errors: list[str], dagster_ui: DagsterUI, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    open_page(page, f"{dagster_ui.base_url}/assets/stock_snapshots")
    metadata = page.locator("body")
    # The per-county figures are a table with a schema (its "Show schema" toggle) and a header row, not Markdown.
    expect(metadata).to_contain_text(
        re.compile(r"stock_by_county\s*.*?Show schema\s*county_code\s*total_stock\s*products_in_stock", re.S)
    )
    counties = sorted(dagster_ui.simulator.config.counties)
    expect(metadata).to_contain_text(re.compile(r"products_checked\s*(" + "|".join(counties) + r")\s*\d+"))
    page.get_by_text("stock_by_county", exact=True).first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "asset-stock-table.png"))

    # The Plots view draws each numeric entry over the materializations: two syncs, two points each.
    page.get_by_text("Plots", exact=True).first.click()
    for label in ("total_stock", "pairs_in_stock", "coverage_pct", "rows_rejected", "api_throttled"):
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    expect(page.locator("canvas").first).to_be_visible()
    assert page.locator("canvas").count() >= 5, "one chart per numeric entry"
    page.get_by_text("total_stock", exact=True).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "asset-stock-plots.png"))
    assert not page_errors, page_errors


def test_zz_sigterm_stops_the_ui_and_every_process_it_started(dagster_ui: DagsterUI) -> None:
    """Last in the module: it stops the UI the other tests used."""
    process = dagster_ui.process
    children = descendants(process.pid)
    assert len(children) >= 3, f"dg dev, its webserver, daemon and code server: {children}"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], "children left running after SIGTERM"
