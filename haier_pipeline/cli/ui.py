"""`haier-pipeline ui`: `dagster dev` on 127.0.0.1 with the project's instance; the simulator is started
for it when no API is configured."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from haier_pipeline.cli.demo import simulator_environment
from haier_pipeline.settings import load_dotenv_file

SIMULATOR_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")


def run(args: argparse.Namespace) -> int:
    from haier_pipeline.simulator import SimulatorConfig, start_simulator

    load_dotenv_file()
    environment = dict(os.environ)
    environment.setdefault("DAGSTER_HOME", str(Path.cwd()))
    simulator = None
    if not environment.get("HAIER_BASE_URL"):
        config = SimulatorConfig(latency_ms=30, latency_jitter_ms=6, rate_limit=100)
        try:
            simulator = start_simulator(config, port=SIMULATOR_PORT)
        except OSError:  # the port is taken (another simulator?): any free one will do
            simulator = start_simulator(config, port=0)
        environment.update(simulator_environment(simulator.base_url, config))
        print(f"HAIER_BASE_URL is not set: the UI runs against the simulator at {simulator.base_url}")
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-h",
        "127.0.0.1",
        "-p",
        str(args.port),
        "-w",
        "workspace.yaml",
    ]
    try:
        return subprocess.call(command, env=environment)
    finally:
        if simulator is not None:
            simulator.stop()
