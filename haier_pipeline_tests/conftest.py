"""Fixtures shared by the whole suite: the simulator over real HTTP, clients pointed at it, its env."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from haier_pipeline.haier.auth import forget_cached_tokens
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.discovery import forget_discoveries
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config

pytest_plugins = ["haier_pipeline_tests.pipelines"]


@pytest.fixture(autouse=True)
def _no_token_of_an_earlier_test() -> None:
    """Tokens are cached per process by URL and credentials: a simulator on a port an earlier test's used would
    otherwise be sent that simulator's token, skipping the token call a test may be about. What the client learned of
    a gateway (haier.discovery) is forgotten for the same reason."""
    forget_cached_tokens()
    forget_discoveries()


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with start_simulator(simulator_config()) as running:
        yield running


@pytest.fixture
def make_client(simulator: RunningSimulator) -> Callable[..., HaierClient]:
    def build(**overrides: object) -> HaierClient:
        settings: dict[str, object] = {
            "base_url": simulator.base_url,
            **SIMULATOR_CREDENTIALS,
            "backoff_seconds": 0.05,
            **overrides,
        }
        return HaierClient(**settings)

    return build


@pytest.fixture
def api_env(
    simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment a user would set for the simulator, applied to this test's process."""
    warehouse = tmp_path_factory.mktemp("warehouse") / "haier.duckdb"
    env = {
        "HAIER_BASE_URL": simulator.base_url,
        "HAIER_CLIENT_ID": SIMULATOR_CREDENTIALS["client_id"],
        "HAIER_CLIENT_SECRET": SIMULATOR_CREDENTIALS["client_secret"],
        "HAIER_CUSTOMER_CODE": SIMULATOR_CREDENTIALS["customer_code"],
        "HAIER_PASSWORD": SIMULATOR_CREDENTIALS["password"],
        "HAIER_COUNTY_CODES": ",".join(simulator.config.counties),
        "HAIER_WAREHOUSE_URL": f"duckdb:///{warehouse}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def cli_env(api_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`api_env` plus an instance and an orders file of the test's own, as a user's shell would have them."""
    orders = tmp_path / "orders.csv"
    orders.write_text("order_code\nSO.20190106.000003\n", encoding="utf-8")
    env = {**api_env, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "HAIER_ORDERS_FILE": str(orders)}
    for name in ("DAGSTER_HOME", "HAIER_ORDERS_FILE"):
        monkeypatch.setenv(name, env[name])
    return env
