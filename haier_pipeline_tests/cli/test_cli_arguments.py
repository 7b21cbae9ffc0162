"""Bad values for `simulator`, `demo` and `ui` are usage errors naming the option and what it takes, and `ui`
refuses a busy port or a folder that is not the project before anything starts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import haier_pipeline
import haier_pipeline.simulator
from haier_pipeline.cli import ui
from haier_pipeline.cli.main import main
from haier_pipeline.defs.alerts.webhook import run_link
from haier_pipeline.settings import load_settings
from haier_pipeline.simulator.quirks import QUIRKS
from haier_pipeline_tests.cli.usage import usage_error

PROJECT_FOLDER = Path(haier_pipeline.__file__).resolve().parents[1]


def never_started(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the command went on to serve with a value it should have refused")


@pytest.fixture
def nothing_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands import serve and start_simulator when they run: replaced, a refusal that did not happen fails
    the test instead of serving."""
    monkeypatch.setattr(haier_pipeline.simulator, "serve", never_started)
    monkeypatch.setattr(haier_pipeline.simulator, "start_simulator", never_started)


@pytest.fixture
def environments() -> list[dict[str, str]]:
    """The environment of each command `ui` would have started (see launched)."""
    return []


@pytest.fixture
def launched(
    monkeypatch: pytest.MonkeyPatch, nothing_served: None, environments: list[dict[str, str]]
) -> Iterator[list[list[str]]]:
    """The commands `ui` would have started; none is started. An API is configured, so `ui` needs no simulator."""
    commands: list[list[str]] = []

    def supervise(command: list[str], environment: dict[str, str]) -> int:
        commands.append(command)
        environments.append(environment)
        return 0

    monkeypatch.setattr(ui, "supervise", supervise)
    monkeypatch.setenv("HAIER_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.chdir(PROJECT_FOLDER)
    yield commands


@pytest.mark.parametrize(
    ("command", "argv", "allowed"),
    [
        # demo takes the two options it shares with the simulator by the same rules
        ("demo", ["--products", "-1"], "'-1' is not a whole number of products, 1 or more"),
        ("demo", ["--latency-ms", "-1"], "'-1' is not a number of milliseconds, 0 or more"),
        ("simulator", ["--products", "-1"], "'-1' is not a whole number of products, 1 or more"),
        ("simulator", ["--products", "0"], "'0' is not a whole number of products, 1 or more"),
        ("simulator", ["--fault-rate", "2"], "'2' is not a share from 0 to 1"),
        ("simulator", ["--bad-row-rate", "-0.1"], "'-0.1' is not a share from 0 to 1"),
        ("simulator", ["--quirk-rate", "1.5"], "'1.5' is not a share from 0 to 1"),
        ("simulator", ["--throttle-rate", "2"], "'2' is not a share from 0 to 1"),
        ("simulator", ["--hang-rate", "nan"], "'nan' is not a share from 0 to 1"),
        ("simulator", ["--rate", "0"], "'0' is not a positive number of requests per second"),
        ("simulator", ["--rate", "nan"], "'nan' is not a positive number of requests per second"),
        ("simulator", ["--port", "99999"], "'99999' is not a port number from 0 to 65535 (0 picks any free port)"),
        ("simulator", ["--port", "-1"], "'-1' is not a port number from 0 to 65535"),
        ("simulator", ["--latency-ms", "-5"], "'-5' is not a number of milliseconds, 0 or more"),
        ("simulator", ["--token-ttl", "-1"], "'-1' is not a number of seconds, 0 or more"),
        ("simulator", ["--token-revoke-every", "-1"], "'-1' is not a number of seconds, 0 or more (0: never)"),
        ("simulator", ["--counties", "110101,12"], "'110101,12' is not a comma-separated list of 6-digit county codes"),
    ],
)
def test_out_of_range_values_are_usage_errors_naming_the_option_and_what_it_takes(
    command: str, argv: list[str], allowed: str, nothing_served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error([command, *argv], capsys)
    assert f"error: argument {argv[0]}: {allowed}" in err


@pytest.mark.parametrize("quirks", ["bogus", "all,bogus"])
def test_an_unknown_quirk_is_a_usage_error_listing_the_known_ones(
    quirks: str, nothing_served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["simulator", "--quirks", quirks], capsys)
    assert "error: argument --quirks: unknown quirk(s) bogus: choose among" in err
    assert all(name in err for name in QUIRKS) and "or all" in err


def test_valid_simulator_values_reach_its_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[Any, str, int]] = []
    monkeypatch.setattr(
        haier_pipeline.simulator, "serve", lambda config, host, port: served.append((config, host, port))
    )
    argv = ["--port", "0", "--products", "1", "--rate", "5", "--fault-rate", "1", "--quirks", "all"]
    assert main(["simulator", *argv, "--counties", "110101, 310104", "--hang-rate", "0"]) == 0
    [(config, host, port)] = served
    assert (host, port, config.products, config.rate_limit, config.fault_rate) == ("127.0.0.1", 0, 1, 5.0, 1.0)
    assert config.quirks == tuple(QUIRKS)
    assert config.counties == ("110101", "310104")


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_ui_port_out_of_range_is_a_usage_error(
    port: str, launched: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["ui", "--port", port], capsys)
    assert f"error: argument --port: '{port}' is not a port number from 1 to 65535" in err
    assert launched == []


def test_ui_on_a_busy_port_says_which_and_how_to_choose_another_before_starting_anything(
    launched: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"haier-pipeline ui: port {port} on 127.0.0.1 is already in use" in err
    assert f"choose another port: haier-pipeline ui --port {port + 1}" in err
    assert "Traceback" not in err
    assert launched == [], "dg dev was started on a port it cannot serve"


def test_ui_on_a_free_port_starts_dg_dev_on_it(launched: list[list[str]]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["ui", "--port", str(port)]) == 0
    assert launched == [ui.dg_dev_command(port)]


@pytest.mark.parametrize("configured", [None, "", "  "])
def test_the_alerts_of_a_ui_on_another_port_link_to_that_port(
    configured: str | None,
    launched: list[list[str]],
    environments: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under `ui --port 3126` a failed run's alert linked to http://127.0.0.1:3000/runs/..., where no UI was: the
    daemon dg dev starts read HAIER_UI_URL's default. An empty HAIER_UI_URL is unset, as the settings read it."""
    if configured is None:
        monkeypatch.delenv("HAIER_UI_URL", raising=False)
    else:
        monkeypatch.setenv("HAIER_UI_URL", configured)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["ui", "--port", str(port)]) == 0
    [environment] = environments
    assert environment["HAIER_UI_URL"] == f"http://127.0.0.1:{port}"
    ui_url = load_settings(environment, require_credentials=False).ui_url
    assert run_link(ui_url, "c735f42a") == f"http://127.0.0.1:{port}/runs/c735f42a"


@pytest.mark.parametrize("name", ["HAIER_UI_URL", "haier_ui_url"])
def test_a_ui_url_set_explicitly_is_the_alerts_link_whatever_the_port(
    name: str, launched: list[list[str]], environments: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI behind a proxy or another name: HAIER_UI_URL (in any case, as the settings read it) stays as set."""
    monkeypatch.delenv("HAIER_UI_URL", raising=False)
    monkeypatch.setenv(name, "https://dagster.example.com")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["ui", "--port", str(port)]) == 0
    [environment] = environments
    assert environment.get("HAIER_UI_URL", environment.get(name)) == "https://dagster.example.com"
    assert load_settings(environment, require_credentials=False).ui_url == "https://dagster.example.com"


def test_a_ui_url_in_env_file_is_the_alerts_link_whatever_the_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.env` is read as the variables are: a HAIER_UI_URL written there is not replaced by the port's."""
    monkeypatch.setenv("HAIER_UI_URL", "set, so that the teardown restores what was there before .env's value")
    monkeypatch.delenv("HAIER_UI_URL")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HAIER_UI_URL=https://dagster.example.com\n", encoding="utf-8")
    assert ui.ui_environment(3126)["HAIER_UI_URL"] == "https://dagster.example.com"


def test_ui_outside_the_project_folder_says_where_to_run_it(
    launched: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["ui"]) == 2
    err = capsys.readouterr().err
    assert f"haier-pipeline ui: {tmp_path} is not the project folder" in err
    assert f"run it from the project folder ({PROJECT_FOLDER})" in err
    assert launched == []
