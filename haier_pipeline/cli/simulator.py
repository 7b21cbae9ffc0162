"""`haier-pipeline simulator`: the vendor API on loopback, for the demo, the UI and experiments."""

from __future__ import annotations

import argparse
import errno
import sys

from haier_pipeline.cli.main import EXIT_FAILED, EXIT_OK

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--products", type=int, default=120, help="products in the data set (default 120)")
    parser.add_argument("--counties", default=None, help="comma-separated 6-digit county codes")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="answer latency, with 20%% jitter")
    parser.add_argument("--rate", type=float, default=None, help="requests/s before answering 429 (default: none)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of data calls answered 503/garbled")
    parser.add_argument("--bad-row-rate", type=float, default=0.0, help="share of malformed rows (quarantine demo)")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="server-side token lifetime, seconds")
    parser.add_argument("--seed", type=int, default=7, help="seed of the deterministic data set")


def run(args: argparse.Namespace) -> int:
    from haier_pipeline.simulator import SimulatorConfig, serve

    config = SimulatorConfig(
        seed=args.seed,
        products=args.products,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_ms * 0.2,
        rate_limit=args.rate,
        fault_rate=args.fault_rate,
        bad_row_rate=args.bad_row_rate,
        token_ttl=args.token_ttl,
    )
    if args.counties:
        config.counties = tuple(code.strip() for code in args.counties.split(",") if code.strip())
    try:
        serve(config, host=args.host, port=args.port)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(
            f"haier-pipeline simulator: port {args.port} on {args.host} is already in use (another simulator?). "
            f"Stop that process, or choose another port: haier-pipeline simulator --port {args.port + 1} "
            "(--port 0 picks any free one).",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
