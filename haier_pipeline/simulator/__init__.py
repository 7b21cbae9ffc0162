"""A simulator of the Haier dealer open-platform API, written from the vendor API
document (haier-api.md) alone.

It deliberately imports nothing from the client (`haier_pipeline.haier`): a misreading of the
vendor document in the client must show up as a failing test, not be mirrored here.
"""

from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.simulator.dataset import Dataset, dataset_for
from haier_pipeline.simulator.server import RunningSimulator, serve, start_simulator

__all__ = ["Dataset", "RunningSimulator", "SimulatorConfig", "dataset_for", "serve", "start_simulator"]
