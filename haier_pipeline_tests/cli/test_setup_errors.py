"""Set-up mistakes a user makes outside the HAIER_* variables' types, run through the real console script: full-width
county codes, a DAGSTER_HOME that is relative, a file or a broken dagster.yaml, a --timings file that cannot be
written, a repeated --only, a member id that is not one. Each is a configuration or argument error (exit 2) naming
what to fix, before any call, or (a relative DAGSTER_HOME, a repeated --only) simply works as meant."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from haier_pipeline.cli.sync import timings_file_argument
from haier_pipeline.cli.ui import ui_environment
from haier_pipeline.simulator import RunningSimulator

HAIER_PIPELINE = str(Path(sys.executable).with_name("haier-pipeline"))


def haier_pipeline(*argv: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it, in `cwd`, with the test's environment plus `env`."""
    return subprocess.run(
        [HAIER_PIPELINE, *argv],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def calls(simulator: RunningSimulator) -> int:
    return simulator.counters.snapshot()["total_requests"]


def test_full_width_county_codes_are_a_configuration_error_before_any_call(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    simulator.counters.reset()
    done = haier_pipeline("sync", "--only", "products,stock", cwd=tmp_path, HAIER_COUNTY_CODES="110101,３１０１０４")
    assert done.returncode == 2, done.stderr
    assert (
        "HAIER_COUNTY_CODES: county codes are 6 ASCII digits (e.g. 110101): '３１０１０４' has characters"
        in done.stderr
    )
    assert "type it as 310104" in done.stderr and "Traceback" not in done.stderr
    assert calls(simulator) == 0


def test_a_full_width_county_code_in_the_counties_file_is_named_with_its_line(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counties.csv").write_text("county_code\n110101\n３１０１０４\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "HAIER_COUNTY_CODES"}
    simulator.counters.reset()
    done = subprocess.run(
        [HAIER_PIPELINE, "sync", "--only", "stock"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "data/counties.csv line 3: county code '３１０１０４' has characters that are not ASCII" in done.stderr
    assert "type it as 310104" in done.stderr
    assert calls(simulator) == 0


def test_query_stock_refuses_a_full_width_county_before_any_call(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    simulator.counters.reset()
    done = haier_pipeline("query", "stock", "GA0SZC00U", "３１０１０４", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("usage: haier-pipeline query stock")
    assert "argument COUNTY: '３１０１０４' is not a 6-digit county code: full-width characters are not accepted, " in (
        done.stderr
    )
    assert "type it as 310104" in done.stderr
    assert calls(simulator) == 0


@pytest.mark.parametrize("member", ["-5", "0", "１２"])
def test_query_logistics_refuses_a_member_id_that_is_not_a_positive_number(
    member: str, cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    simulator.counters.reset()
    done = haier_pipeline("query", "logistics", "SO.20190106.000003", "--member-id", member, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("usage: haier-pipeline query logistics")
    assert f"argument --member-id: {member!r} is not a member id (a whole number, 1 or more" in done.stderr
    assert calls(simulator) == 0


def test_a_relative_dagster_home_is_the_folder_of_that_name_in_the_working_directory(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = haier_pipeline("sync", "--only", "balance", cwd=tmp_path, DAGSTER_HOME="instance")
    assert done.returncode == 0, done.stderr
    with dg.DagsterInstance.from_config(str(tmp_path / "instance")) as instance:
        assert len(instance.get_runs()) == 1, "the run is recorded in ./instance"


def test_a_dagster_home_whose_storage_paths_are_relative_is_refused_from_another_folder(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Dagster reads dagster.yaml's relative paths from the working directory: DAGSTER_HOME set to the project, a
    sync from elsewhere recorded its runs in another instance (no UI, no alerts, no shared pool) and exited 0."""
    home = Path(cli_env["DAGSTER_HOME"])
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (Path(__file__).resolve().parents[2] / "dagster.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    simulator.counters.reset()
    done = haier_pipeline("sync", "--only", "balance", cwd=elsewhere)
    assert done.returncode == 2, done.stderr
    assert "names its storage by relative paths in dagster.yaml (data/dagster/storage, data/dagster)" in done.stderr
    assert f"Run from {home}, or make those paths absolute" in done.stderr
    assert calls(simulator) == 0 and not (elsewhere / "data").exists()
    assert haier_pipeline("sync", "--only", "balance", cwd=home).returncode == 0, "from DAGSTER_HOME itself"


def test_the_ui_hands_dg_dev_a_relative_dagster_home_from_env_as_the_folder_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ui` reads .env itself, after the command line made DAGSTER_HOME absolute: dg dev refuses a relative one."""
    monkeypatch.setenv("DAGSTER_HOME", "set, so that the teardown restores what was there before .env's value")
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DAGSTER_HOME=instance\n", encoding="utf-8")
    assert ui_environment()["DAGSTER_HOME"] == str(tmp_path / "instance")


def test_a_dagster_home_that_is_a_file_is_named_as_such(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    home = tmp_path / "afile"
    home.write_text("", encoding="utf-8")
    simulator.counters.reset()
    done = haier_pipeline("sync", "--only", "balance", cwd=tmp_path, DAGSTER_HOME=str(home))
    assert done.returncode == 2, done.stderr
    assert f"DAGSTER_HOME={str(home)!r} is a file, not a folder: DAGSTER_HOME must be a folder" in done.stderr
    assert "Set it to a folder you can write to" in done.stderr and "Errno" not in done.stderr
    assert calls(simulator) == 0


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (
            "storage:\n  sqlite:\n   base_dir: [unclosed\n",
            "dagster.yaml line 4 is not valid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow "
            "sequence at line 3)",
        ),
        (
            "storage:\n  sqlite:\n    base_dirr: data\n",
            'dagster.yaml is not a valid Dagster instance configuration: Received unexpected config entry "base_dirr"',
        ),
    ],
)
def test_a_dagster_yaml_dagster_cannot_read_is_named_with_the_fix(
    config: str, says: str, cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    home = Path(cli_env["DAGSTER_HOME"])
    home.mkdir()
    (home / "dagster.yaml").write_text(config, encoding="utf-8")
    simulator.counters.reset()
    done = haier_pipeline("sync", "--only", "balance", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"haier-pipeline sync: {home / says}" in done.stderr
    assert "Fix it" in done.stderr and "unexpected error" not in done.stderr
    assert calls(simulator) == 0


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="no /sys: nowhere even root cannot write")
def test_a_timings_file_that_cannot_be_written_is_refused_before_the_sync(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    simulator.counters.reset()
    done = haier_pipeline("sync", "--only", "balance", "--timings", "/sys/kernel/t.json", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("usage: haier-pipeline sync")
    assert "argument --timings: /sys/kernel/t.json cannot be written (" in done.stderr
    assert "name a file in a folder you can write to" in done.stderr
    assert calls(simulator) == 0


def test_checking_a_timings_file_leaves_no_file_and_changes_none(tmp_path: Path) -> None:
    assert timings_file_argument(str(tmp_path / "new.json")) == tmp_path / "new.json"
    assert sorted(tmp_path.iterdir()) == [], "the check created a file or a folder"
    kept = tmp_path / "old.json"
    kept.write_text("{}\n", encoding="utf-8")
    assert timings_file_argument(str(kept)) == kept
    assert kept.read_text(encoding="utf-8") == "{}\n"


def test_repeated_only_options_run_every_step_named(cli_env: dict[str, str], tmp_path: Path) -> None:
    done = haier_pipeline("sync", "--only", "balance", "--only", "products", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ran = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    assert ran == {"account_balances", "products"}, done.stdout


def test_a_timings_file_in_a_missing_folder_is_an_argument_error_and_creates_nothing(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    """It created the folder (a typo in it went unnoticed)."""
    simulator.counters.reset()
    done = haier_pipeline("sync", "--only", "balance", "--timings", str(tmp_path / "tmings" / "t.json"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("usage: haier-pipeline sync")
    assert f"argument --timings: {tmp_path}/tmings/t.json: the folder {tmp_path}/tmings does not exist" in done.stderr
    assert f"mkdir -p {tmp_path}/tmings" in done.stderr
    assert not (tmp_path / "tmings").exists() and calls(simulator) == 0
