"""A run records the warehouse it wrote to (masked) and its account as tags, and the UI never shows one warehouse's
results as another's: a Dagster instance records one warehouse's runs; `sync` and `ui` against another warehouse use
that warehouse's own instance beside it; a run launched against another warehouse than its instance's fails before
it writes anything; an instance whose storage is a database refuses instead (issue 26.3)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
import yaml

from haier_pipeline.cli.main import main
from haier_pipeline.cli.ui import ui_home
from haier_pipeline.defs.haier_catalog.assets import catalog_assets
from haier_pipeline.instance import (
    ACCOUNT_TAG,
    HOST_TAG,
    OTHER_WAREHOUSES,
    PID_TAG,
    WAREHOUSE_TAG,
    InstanceConfigurationError,
    bind_warehouse,
    bound_warehouse,
    load_instance,
    separate_home,
)
from haier_pipeline.warehouse.url import warehouse_label
from haier_pipeline_tests.pipelines import Pipeline

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_warehouse_label_names_the_warehouse_without_any_secret(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert warehouse_label("duckdb:///data/w.duckdb") == f"duckdb:///{tmp_path}/data/w.duckdb"
    assert (
        warehouse_label("duckdb:///data/w.duckdb", "haier_x") == f"duckdb:///{tmp_path}/data/w.duckdb (schema haier_x)"
    )
    as_owner = warehouse_label("postgresql://owner:s3cr%40t@db.example:6543/dealer?sslmode=require")
    assert as_owner == "postgresql://db.example:6543/dealer"
    assert warehouse_label("postgres://haier_app:other@db.example:6543/dealer") == as_owner, "one warehouse, two roles"


def runs_of(home: Path) -> dict[str, dict[str, str]]:
    with load_instance(home) as instance:
        return {run.run_id: dict(run.tags) for run in instance.get_runs()}


def sync_into(url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    monkeypatch.setenv("HAIER_WAREHOUSE_URL", url)
    assert main(["sync", "--only", "products"]) == 0
    captured = capsys.readouterr()
    (line,) = [line for line in captured.out.splitlines() if line.startswith("run ")]
    return line.split()[1], captured.err


@pytest.mark.parametrize("project_config", [False, True], ids=["no dagster.yaml", "the project's dagster.yaml"])
def test_sync_against_another_warehouse_records_its_runs_in_that_warehouses_own_instance(
    project_config: bool,
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = Path(cli_env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if project_config:  # relative storage paths, read from the project folder, where sync runs
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        monkeypatch.chdir(home)
    first, second = f"duckdb:///{tmp_path / 'first.duckdb'}", f"duckdb:///{tmp_path / 'second.duckdb'}"

    run_a, err = sync_into(first, monkeypatch, capsys)
    assert "recorded in the Dagster instance" not in err
    run_b, err = sync_into(second, monkeypatch, capsys)
    with load_instance(home) as instance:
        root = Path(instance.root_directory)
    (other,) = ((root if root.is_absolute() else home / root) / OTHER_WAREHOUSES).iterdir()
    assert f"the runs of the warehouse {warehouse_label(second)} are recorded in the Dagster instance {other}" in err
    run_a2, _ = sync_into(first, monkeypatch, capsys)

    project, separate = runs_of(home), runs_of(other)
    assert set(project) == {run_a, run_a2}, "the project's instance shows only the first warehouse's runs"
    assert set(separate) == {run_b}
    for tags, url in ((project[run_a], first), (project[run_a2], first), (separate[run_b], second)):
        assert tags[WAREHOUSE_TAG] == warehouse_label(url) and tags[ACCOUNT_TAG] == "default"
    with load_instance(home) as instance:
        assert bound_warehouse(instance) == warehouse_label(first)
    config = yaml.safe_load((other / "dagster.yaml").read_text())
    assert config["storage"] == {"sqlite": {"base_dir": str(other / "storage")}}
    if project_config:
        assert config["concurrency"]["pools"]["default_limit"] == 1, "the project's settings, kept"
        assert config["compute_logs"]["class"] == "NoOpComputeLogManager"


def test_the_ui_of_another_warehouse_gets_that_warehouses_instance(cli_env: dict[str, str], tmp_path: Path) -> None:
    home = Path(cli_env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    first, second = f"duckdb:///{tmp_path / 'first.duckdb'}", f"duckdb:///{tmp_path / 'second.duckdb'}"
    assert ui_home(home, {"HAIER_WAREHOUSE_URL": first}) == home, "the first warehouse claims the instance"
    other = ui_home(home, {"HAIER_WAREHOUSE_URL": second})
    assert other.parent.name == OTHER_WAREHOUSES and (other / "dagster.yaml").is_file()
    assert ui_home(home, {"HAIER_WAREHOUSE_URL": second}) == other
    assert ui_home(home, {"HAIER_WAREHOUSE_URL": first}) == home
    with load_instance(other) as instance:
        assert bound_warehouse(instance) == warehouse_label(second)


def test_an_instance_whose_storage_is_a_database_refuses_another_warehouse(tmp_path: Path) -> None:
    postgres = type("PostgresRunStorage", (), {})()
    instance = SimpleNamespace(
        run_storage=postgres, event_log_storage=postgres, schedule_storage=postgres, root_directory=str(tmp_path)
    )
    with pytest.raises(InstanceConfigurationError, match=r"Its storage is a database") as refused:
        separate_home(instance, tmp_path, "postgresql://db:5432/second", "postgresql://db:5432/first")  # type: ignore[arg-type]
    assert "set DAGSTER_HOME to the instance of postgresql://db:5432/second" in str(refused.value)
    assert not (tmp_path / OTHER_WAREHOUSES).exists()


def test_a_run_launched_against_another_warehouse_than_its_instances_fails_before_writing(
    duckdb_pipeline: Pipeline,
) -> None:
    """What the UI's run of a code location reloaded with another HAIER_WAREHOUSE_URL would do."""
    pipeline = duckdb_pipeline
    bind_warehouse(pipeline.instance, "postgresql://db.example:5432/dealer")
    result = pipeline.run(only=["products"])
    assert not result.success
    (failure,) = pipeline.failures(result)
    assert (
        "this Dagster instance records the runs of the warehouse postgresql://db.example:5432/dealer" in failure.cause
    )
    assert f"this run's warehouse is {warehouse_label(pipeline.resource.url)}" in failure.cause
    assert pipeline.counts()["products"] == 0 and pipeline.counts()["sync_log"] == 0, "nothing written"


def test_a_run_launched_without_tags_gets_its_warehouse_account_and_process_at_its_first_step(
    duckdb_pipeline: Pipeline,
) -> None:
    """A run the UI or the daemon launched starts with none of our tags: its first step adds them."""
    pipeline = duckdb_pipeline
    result = dg.materialize(
        catalog_assets(pipeline.resource.url),
        selection=[dg.AssetKey("products")],
        resources={name: dg.ResourceDefinition.hardcoded_resource(v) for name, v in pipeline.resources().items()},
        instance=pipeline.instance,
    )
    assert result.success
    tags = pipeline.instance.get_run_by_id(result.run_id).tags
    assert tags[WAREHOUSE_TAG] == warehouse_label(pipeline.resource.url)
    assert tags[ACCOUNT_TAG] == "default"
    assert tags[PID_TAG] and tags[HOST_TAG]
    assert bound_warehouse(pipeline.instance) == warehouse_label(pipeline.resource.url), "its first run claims it"
