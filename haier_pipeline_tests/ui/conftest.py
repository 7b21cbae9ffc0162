"""A real `haier-pipeline ui` (`dg dev`) on loopback, fed by a real `haier-pipeline sync`, and headless Chromium
to look at it.

Everything lives in a temporary DAGSTER_HOME and warehouse: the project's data/ is never touched. The instance
is a copy of the project's dagster.yaml with absolute storage paths and `max_concurrent_runs: 0`, so the runs
the sensors request when the daemon starts stay queued and the CLI run stays the latest materialization.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from haier_pipeline.cli.demo import simulator_environment
from haier_pipeline.simulator import RunningSimulator, SimulatorConfig, start_simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
LOCATION_NAME = "haier_pipeline"
REPOSITORY_NAME = "__repository__"  # the repository name Dagster gives a `Definitions` object
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_TIMEOUT = 90.0
LOCATION_TIMEOUT = 60.0
UI_TIMEOUT_MS = 30_000  # a page's load, and each expect() on it
MISSING_BROWSER_HINT = (
    "headless Chromium is needed for the Dagster UI browser test: `apt-get install chromium` "
    "(Debian's /usr/bin/chromium) and the `playwright` Python package (dev extra)"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(condition: bool, problem: str) -> None:
    """A missing browser fails in CI and skips elsewhere, with the install hint."""
    if condition:
        return
    message = f"{problem}: {MISSING_BROWSER_HINT}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_instance_config(home: Path) -> None:
    """The project's dagster.yaml with every storage path absolute inside `home`."""
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    config["storage"] = {"sqlite": {"base_dir": str(home / "storage")}}
    config.setdefault(
        "local_artifact_storage", {"module": "dagster._core.storage.root", "class": "LocalArtifactStorage"}
    )
    config["local_artifact_storage"]["config"] = {"base_dir": str(home)}
    config.setdefault("concurrency", {}).setdefault("runs", {})["max_concurrent_runs"] = 0
    config["nux"] = {"enabled": False}
    config["telemetry"] = {"enabled": False}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class DagsterUI:
    base_url: str
    warehouse_url: str
    first_run_id: str
    cli_run_id: str
    stock_partition: str
    simulator: RunningSimulator
    log_path: Path
    process: subprocess.Popen[bytes]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]


def parse_cli_run(stdout: str) -> tuple[str, str]:
    """The run id from `run <id> (...)` and the stock partition from the stock_snapshots line."""
    run_id = partition = ""
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "run":
            run_id = words[1]
        if words and words[0] == "stock_snapshots" and "day" in words:
            partition = words[words.index("day") + 1].rstrip(":,;")
    return run_id, partition


def run_cli_sync(env: dict[str, str]) -> tuple[str, str]:
    result = subprocess.run(
        [str(VENV_BIN / "haier-pipeline"), "sync"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"`haier-pipeline sync` exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    run_id, partition = parse_cli_run(result.stdout)
    assert run_id, f"no `run <id>` line in the sync output:\n{result.stdout}"
    return run_id, partition


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc), e.g. dg dev's webserver, daemon and code servers."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for path in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                children = {int(child) for child in path.read_text().split()}
                pending.extend(children - found)
                found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Teardown whatever the test left: SIGINT to the whole group, then SIGKILL what is left."""
    left = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    # The webserver, daemon and code server are in the same group; kill any straggler.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    for pid in left:  # dg dev runs in a session of its own, out of the group's reach
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for_server(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"haier-pipeline ui exited with {process.returncode}:\n{log_tail(log_path)}"
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base_url}/server_info", timeout=2).ok:
                return
        time.sleep(0.5)
    raise AssertionError(
        f"haier-pipeline ui did not answer /server_info in {SERVER_TIMEOUT:.0f} s:\n{log_tail(log_path)}"
    )


LOCATION_QUERY = """
{
  workspaceOrError {
    __typename
    ... on PythonError { message }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
          ... on RepositoryLocation { repositories { name } }
        }
      }
    }
  }
}
"""


def wait_for_location(ui: DagsterUI) -> None:
    """Until the code location is LOADED; a load error fails at once with Dagster's message."""
    deadline = time.monotonic() + LOCATION_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            workspace = ui.graphql(LOCATION_QUERY)["workspaceOrError"]
            last = workspace
            assert workspace["__typename"] == "Workspace", f"workspace error: {workspace}"
            entries = {entry["name"]: entry for entry in workspace["locationEntries"]}
            entry = entries.get(LOCATION_NAME)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                assert loaded and loaded["__typename"] == "RepositoryLocation", (
                    f"code location {LOCATION_NAME} failed to load: {loaded.get('message') if loaded else None}\n"
                    + "".join((loaded or {}).get("stack", []))
                )
                names = [repository["name"] for repository in loaded["repositories"]]
                assert REPOSITORY_NAME in names, f"repositories in {LOCATION_NAME}: {names}"
                return
        time.sleep(1)
    raise AssertionError(
        f"code location {LOCATION_NAME} not loaded after {LOCATION_TIMEOUT:.0f} s (last answer: {last}):\n"
        f"{log_tail(ui.log_path)}"
    )


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUI]:
    """Simulator → `haier-pipeline sync` into a temporary instance → `haier-pipeline ui` (dg dev) on a free port."""
    home = tmp_path_factory.mktemp("dagster-home")
    write_instance_config(home)
    config = SimulatorConfig(products=20)
    with start_simulator(config, port=0) as simulator:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("HAIER_", "DAGSTER_"))}
        env.update(simulator_environment(simulator.base_url, config))
        env.update(
            DAGSTER_HOME=str(home),
            HAIER_COUNTY_CODES=",".join(config.counties),
            HAIER_ORDERS_FILE=str(REPO_ROOT / "data" / "orders.csv"),
            HAIER_WAREHOUSE_URL=f"duckdb:///{home / 'haier.duckdb'}",
        )
        # Two syncs: each numeric metadata entry of the latest materialization has a point before it, a series the UI
        # plots. The second is the latest materialization of every asset.
        first_run_id, _ = run_cli_sync(env)
        cli_run_id, stock_partition = run_cli_sync(env)

        port = free_port()
        log_path = home / "dagster-dev.log"
        with log_path.open("wb") as log:
            # What `make ui` runs: `haier-pipeline ui`, which runs `dg dev` in a session of its own. Our own new
            # session only lets teardown reach every straggler should the test of its SIGTERM handling fail.
            process = subprocess.Popen(
                [str(VENV_BIN / "haier-pipeline"), "ui", "--port", str(port)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            ui = DagsterUI(
                base_url=f"http://127.0.0.1:{port}",
                warehouse_url=env["HAIER_WAREHOUSE_URL"],
                first_run_id=first_run_id,
                cli_run_id=cli_run_id,
                stock_partition=stock_partition,
                simulator=simulator,
                log_path=log_path,
                process=process,
            )
            wait_for_server(ui.base_url, process, log_path)
            wait_for_location(ui)
            yield ui
        finally:
            stop_process_group(process)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """CHROMIUM_PATH when set, else `chromium` on PATH, else Debian's /usr/bin/chromium."""
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        require(Path(override).is_file(), f"CHROMIUM_PATH={override} does not exist")
        return override
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
    require(found is not None, "no chromium binary on PATH or at /usr/bin/chromium")
    return str(found)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught JavaScript errors of the test's page."""
    return []


@pytest.fixture
def page(browser: Any, page_errors: list[str]) -> Iterator[Any]:
    """A fresh page in its own context (hence a fresh profile)."""
    from playwright.sync_api import expect  # importable: `browser` required playwright

    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(UI_TIMEOUT_MS)
    # expect() has its own default (5 s), which the asset graph's layout outlasted in CI with four workers on two cores.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    opened.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
