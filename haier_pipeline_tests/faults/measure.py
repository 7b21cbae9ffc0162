"""The client-under-fire figures, measured by hand (not collected by pytest; about 2 minutes in all):

    .venv/bin/python -m haier_pipeline_tests.faults.measure [churn] [storm] [down] [processes]

Each line reports counts (pairs delivered, answers by status) and, for the API down, the time to fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

import requests

from haier_pipeline.haier import HaierError
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.simulator import start_simulator
from haier_pipeline_tests.faults.test_client_faults import REPO, gateway_process, say
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, simulator_config, stock_for_pairs

COUNTIES = ("110101", "310104", "440106", "510107")


def pairs_of(client: HaierClient, count: int) -> list[tuple[str, str]]:
    codes = dict.fromkeys(row["productCode"] for row in client.products() if row.get("isSales") == "1")
    pairs = [(code, county) for code in codes for county in COUNTIES][:count]
    assert len(pairs) == count, f"only {len(pairs)} pairs in the data set"
    return pairs


def fan_out_under(knobs: dict[str, object], count: int, products: int) -> str:
    with start_simulator(simulator_config(products=products, counties=COUNTIES)) as simulator:
        client = HaierClient(base_url=simulator.base_url, pacing_dir=tempfile.mkdtemp(), **SIMULATOR_CREDENTIALS)
        pairs = pairs_of(client, count)
        client.token()
        simulator.reset_counters()
        simulator.config.update(knobs)
        started = time.monotonic()
        outcomes = stock_for_pairs(client, pairs)
        delivered = sum(outcome.error is None for outcome in outcomes)
        snapshot = simulator.counters.snapshot()
        return (
            f"{delivered} of {len(pairs)} pairs delivered in {time.monotonic() - started:.1f} s; "
            f"stock answers {snapshot['statuses']['stock']}, token calls {snapshot['calls']['token']}"
        )


def churn() -> str:
    return "revocation every 0.5 s: " + fan_out_under({"token_revoke_every": 0.5}, 159, 60)


def storm() -> str:
    knobs = {"throttle_rate": 0.15, "fault_rate": 0.1}  # fault_rate 0.1: 5 % 503s and 5 % garbled 200s
    return "15 % random 429 + 5 % 503 + 5 % garbled: " + fan_out_under(knobs, 414, 130)


def down() -> str:
    """The default 30 s timeout, every call hanging: once with a token in hand, once from a cold start."""
    lines = []
    for warm in (True, False):
        with start_simulator(simulator_config(products=60, counties=COUNTIES)) as simulator:
            codes = simulator.dataset.procurable_codes
            pairs = [(code, county) for code in codes for county in COUNTIES][:159]
            client = HaierClient(base_url=simulator.base_url, pacing_dir=tempfile.mkdtemp(), **SIMULATOR_CREDENTIALS)
            if warm:
                client.token()
            simulator.reset_counters()
            simulator.config.hang_rate = 1.0
            started = time.monotonic()
            try:
                stock_for_pairs(client, pairs)
                outcome = "no error"
            except HaierError as error:
                outcome = f"{type(error).__name__}: {error}"
            calls = simulator.counters.snapshot()["calls"]
            lines.append(
                f"API down, timeout 30 s, {'token in hand' if warm else 'cold start'}, {len(pairs)} pairs: failed "
                f"after {time.monotonic() - started:.1f} s, {calls['stock']} stock + {calls['token']} token calls; "
                + outcome
            )
    return "\n".join(lines)


def processes(count: int = 1000, rate: float = 100) -> str:
    lines = []
    for shared in (True, False):
        command = [sys.executable, "-m", "haier_pipeline_tests.faults.pacing_worker"]
        workers = [
            subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
            for _ in range(2)
        ]
        directories = [tempfile.mkdtemp()] * 2 if shared else [tempfile.mkdtemp(), tempfile.mkdtemp()]
        with gateway_process(rate) as base_url:
            requests.post(f"{base_url}/_sim/config", json={"products": 400}, timeout=5).raise_for_status()
            client = HaierClient(base_url=base_url, pacing_dir=directories[0], **SIMULATOR_CREDENTIALS)
            pairs = pairs_of(client, count)
            for worker, directory in zip(workers, directories, strict=True):
                say(worker, json.dumps({"base_url": base_url, "pacing_dir": directory, "rate": rate, "pairs": pairs}))
            for worker in workers:
                assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            requests.post(f"{base_url}/_sim/reset", timeout=5).raise_for_status()
            for worker in workers:
                say(worker, "go")
            results = [json.loads(worker.communicate(timeout=300)[0]) for worker in workers]
            stats = requests.get(f"{base_url}/_sim/stats", timeout=5).json()
        stock = stats["statuses"]["stock"]
        total = sum(stock.values())
        lines.append(
            f"two processes x {count} pairs at {rate:.0f}/s, {'one shared' if shared else 'separate'} pacing "
            f"file(s): {stock.get('429', 0)} of {total} answers throttled ({100 * stock.get('429', 0) / total:.1f} %), "
            f"busiest second {stats['busiest_second']}, delivered {[r['delivered'] for r in results]}"
        )
    return "\n".join(lines)


MEASURES = {"churn": churn, "storm": storm, "down": down, "processes": processes}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(MEASURES):
        print(MEASURES[name](), flush=True)
