"""One process of the two-process pacing test.

Started before the simulator (importing the client takes a while); reads one JSON line
{"base_url", "pacing_dir" (optional), "rate", "pairs"} on stdin, fetches its token, prints "ready", waits for a
"go" line, asks stock for its pairs and prints {"delivered": n, "asked": n}.
"""

from __future__ import annotations

import json
import sys

from haier_pipeline.haier.client import HaierClient
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS, stock_for_pairs


def main() -> None:
    task = json.loads(sys.stdin.readline())
    client = HaierClient(
        base_url=task["base_url"], rate_limit=task["rate"], pacing_dir=task.get("pacing_dir"), **SIMULATOR_CREDENTIALS
    )
    client.token()
    print("ready", flush=True)
    sys.stdin.readline()
    outcomes = stock_for_pairs(client, [(code, county) for code, county in task["pairs"]])
    print(json.dumps({"delivered": sum(outcome.error is None for outcome in outcomes), "asked": len(outcomes)}))


if __name__ == "__main__":
    main()
