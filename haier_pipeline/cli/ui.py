"""`haier-pipeline ui`: `dg dev` (the UI and the daemon) on 127.0.0.1 with the project's instance; the simulator is
started for it when no API is configured. SIGTERM and SIGINT stop `dg dev` and every process it started."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from haier_pipeline.cli.demo import simulator_environment
from haier_pipeline.settings import load_dotenv_file

SIMULATOR_PORT = 8765
GRACE_SECONDS = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")


def dg_dev_command(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("dg")), "dev", "--host", "127.0.0.1", "--port", str(port)]


def stop_group(process: subprocess.Popen[bytes], first: int) -> int:
    """`first` to the whole group (dg dev shuts its webserver, daemon and code server down on it), then SIGKILL
    whatever is left of the group after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        code = process.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        code = -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return code


def supervise(command: list[str], environment: dict[str, str]) -> int:
    """Run `command` in its own session (so it gets signals from us only, and its group can be stopped whole); a
    SIGTERM or SIGINT sent to us is passed to its whole group."""
    process = subprocess.Popen(command, env=environment, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received:
                    code = stop_group(process, signal.SIGINT if received[0] == signal.SIGINT else signal.SIGTERM)
                    break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # However dg dev ended (by itself, or an exception here), none of its children outlives this command.
        stop_group(process, signal.SIGTERM)
    return 0 if received else code


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
        print(f"HAIER_BASE_URL is not set: the UI runs against the simulator at {simulator.base_url}", flush=True)
    try:
        return supervise(dg_dev_command(args.port), environment)
    finally:
        if simulator is not None:
            simulator.stop()
