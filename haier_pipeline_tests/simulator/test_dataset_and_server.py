"""The dataset without HTTP, the counters' sliding window, and the server's life cycle."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date

import pytest
import requests

from haier_pipeline.simulator import SimulatorConfig, dataset_for, start_simulator
from haier_pipeline.simulator.counters import Counters
from haier_pipeline.simulator.dataset import Dataset
from haier_pipeline.simulator.server import environment_line
from haier_pipeline.simulator.state import RateLimiter


def test_catalog_shape() -> None:
    data = dataset_for(SimulatorConfig().seed, SimulatorConfig().products)
    assert len(data.codes) == len(set(data.codes)) == 120
    assert all(re.fullmatch(r"[A-Z0-9]{9}", code) for code in data.codes)
    assert data.codes[0] == "GA0SZC00U"
    assert len(data.not_procurable_codes) == 10 and len(data.price_not_in_effect_codes) == 6
    assert len(data.tricky_codes) == 4
    roles = [data.not_procurable_codes, data.price_not_in_effect_codes, data.tricky_codes]
    assert sum(map(len, roles)) == len(set().union(*roles))  # distinct products per role
    assert set(data.procurable_codes) == set(data.codes) - set(data.not_procurable_codes)


def test_dataset_is_stable_across_processes() -> None:
    script = (
        "from haier_pipeline.simulator import *; c = SimulatorConfig(); "
        "print(','.join(dataset_for(c.seed, c.products).codes))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().split(",") == Dataset(7, 120).codes


def test_small_and_empty_catalogs() -> None:
    assert Dataset(7, 0).listing() == []
    small = Dataset(3, 5)
    assert len(small.codes) == 5 and small.codes[0] == "GA0SZC00U"


def test_price_changes_are_sticky_between_change_days() -> None:
    data = Dataset(7, 120)
    code, day = data.priced_codes[3], date(2025, 7, 1)
    version = data.price_version_day(code, day)
    assert version is not None and version <= day
    assert data.price_row(code, version)["supplyPrice"] == data.price_row(code, day)["supplyPrice"]


def test_counters_sliding_window() -> None:
    counters = Counters()
    for moment in (0.0, 0.5, 0.9, 1.2, 1.3, 1.4, 3.0):
        counters.record_arrival("stock", now=moment)
    assert counters.snapshot()["busiest_second"] == 5  # 0.5 .. 1.4
    assert counters.calls("stock") == 7


def test_counters_most_in_flight() -> None:
    counters = Counters()
    for endpoint in ("token", "stock", "stock"):
        counters.record_arrival(endpoint, now=0.0)
    counters.record_status("token", 200)
    counters.record_arrival("stock", now=0.0)
    assert counters.snapshot()["most_in_flight"] == 3
    counters.reset()  # with requests still out: their answers do not count below zero
    for _ in range(3):
        counters.record_status("stock", 200)
    counters.record_arrival("stock", now=0.0)
    assert counters.snapshot()["most_in_flight"] == 1


def test_rate_limiter_window() -> None:
    limiter = RateLimiter()
    assert [limiter.admit(2, now=t) for t in (0.0, 0.1, 0.2, 1.05, 1.06)] == [True, True, False, True, False]
    assert limiter.admit(None, now=0.0)


def test_port_zero_picks_free_ports_and_stop_closes() -> None:
    with start_simulator(SimulatorConfig(products=10)) as one, start_simulator() as two:
        assert one.port != two.port and one.port > 0
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", one.base_url)
        assert one.dataset.size == 10
    with pytest.raises(requests.ConnectionError):
        requests.get(one.base_url + "/_sim/stats", timeout=2)


def test_environment_line_names_the_demo_credentials() -> None:
    line = environment_line(SimulatorConfig(), "http://127.0.0.1:8765")
    assert line.startswith("HAIER_BASE_URL=http://127.0.0.1:8765 HAIER_CLIENT_ID=demo-client ")
    assert "HAIER_PASSWORD=demo-password" in line and "HAIER_COUNTY_CODES=110101,310104,440106,510107" in line
    assert "HAIER_SELLER_PASSWORD" not in line
    assert "HAIER_SELLER_PASSWORD=x" in environment_line(SimulatorConfig(customer_password="x"), "http://h:1")


def test_simulator_does_not_import_the_client() -> None:
    # The wall that lets a client misreading of the vendor document surface as a failing test.
    from pathlib import Path

    import haier_pipeline.simulator as package

    client_import = re.compile(r"^\s*(from|import)\s+haier_pipeline\.haier\b", re.MULTILINE)
    for source in Path(package.__file__).parent.glob("*.py"):
        assert not client_import.search(source.read_text(encoding="utf-8")), source.name
