from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from haier_pipeline.simulator import RunningSimulator, SimulatorConfig, start_simulator
from haier_pipeline_tests.simulator.helpers import Api, FakeClock


@pytest.fixture(scope="session")
def _shared_simulator() -> Iterator[RunningSimulator]:
    # One server for the session: starting is cheap but stopping waits on uvicorn's 0.1 s tick.
    with start_simulator(SimulatorConfig()) as simulator:
        yield simulator


@pytest.fixture
def sim(_shared_simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    """The shared simulator with default knobs, fresh counters and no live tokens."""
    _shared_simulator.config.update(SimulatorConfig().as_dict())
    _shared_simulator.revoke_tokens()
    _shared_simulator.reset_counters()
    yield _shared_simulator


@pytest.fixture
def api(sim: RunningSimulator) -> Api:
    return Api(sim.base_url)


@pytest.fixture
def clock(sim: RunningSimulator) -> Iterator[FakeClock]:
    """The shared simulator on a clock that stands still until the test advances it."""
    sim.state.clock = fake = FakeClock()
    yield fake
    sim.state.clock = time.monotonic
