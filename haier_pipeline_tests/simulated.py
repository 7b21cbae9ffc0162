"""The credentials and knobs every test's simulator starts with."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import requests

from haier_pipeline.haier.client import HaierClient, product_of
from haier_pipeline.haier.fan_out import Outcome
from haier_pipeline.simulator import SimulatorConfig

SIMULATOR_CREDENTIALS = {
    "client_id": "demo-client",
    "client_secret": "demo-secret-7f3a",
    "customer_code": "8800633175",
    "password": "demo-password-91c2",
}


def simulator_config(**knobs: object) -> SimulatorConfig:
    config = SimulatorConfig(
        client_id=SIMULATOR_CREDENTIALS["client_id"],
        client_secret=SIMULATOR_CREDENTIALS["client_secret"],
        customer_code=SIMULATOR_CREDENTIALS["customer_code"],
        send_to_code=SIMULATOR_CREDENTIALS["customer_code"],
        password=SIMULATOR_CREDENTIALS["password"],
        customer_password=SIMULATOR_CREDENTIALS["password"],
        products=60,
    )
    for name, value in knobs.items():
        setattr(config, name, value)
    return config


@contextmanager
def simulator_process(products: int, latency_ms: float, rate: float | None) -> Iterator[str]:
    """The simulator in its own process, as the vendor's gateway would be: it must not share this
    process's interpreter lock with the client it is measuring."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "haier_pipeline.cli.main",
        "simulator",
        "--port",
        str(port),
        "--products",
        str(products),
        "--latency-ms",
        str(latency_ms),
        "--rate",
        str(rate),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base_url}/_sim/stats", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.2)
        requests.post(
            f"{base_url}/_sim/config",
            json={
                "client_secret": SIMULATOR_CREDENTIALS["client_secret"],
                "password": SIMULATOR_CREDENTIALS["password"],
                "customer_password": SIMULATOR_CREDENTIALS["password"],
            },
            timeout=5,
        ).raise_for_status()
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


def stock_for_pairs(
    client: HaierClient, pairs: Sequence[tuple[str, str]]
) -> list[Outcome[tuple[str, str], list[dict[str, Any]]]]:
    """Each (product, county) pair's stock Outcome, in the pairs' order: the stock step's fan-out, ordered."""
    return client.fan_out(lambda pair: client.stock(*pair), pairs, subject=product_of)
