"""Fixtures shared by the whole suite: the simulator over real HTTP, clients pointed at it, its env."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from haier_pipeline.haier import HaierClient
from haier_pipeline.simulator import RunningSimulator, start_simulator
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config

pytest_plugins = ["haier_pipeline_tests.pipelines"]


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
