"""`haier-pipeline simulator`: the vendor API on loopback, for the demo, the UI and experiments."""

from __future__ import annotations

import argparse
import errno
import sys

from haier_pipeline.cli.main import EXIT_FAILED, EXIT_OK
from haier_pipeline.simulator.quirks import QUIRKS

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
    parser.add_argument(
        "--quirks",
        default="",
        help="comma-separated data quirks to serve (or all): " + ", ".join(sorted(QUIRKS)),
    )
    parser.add_argument("--quirk-rate", type=float, default=0.1, help="share of rows each quirk touches (default 0.1)")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="server-side token lifetime, seconds")
    parser.add_argument("--seed", type=int, default=7, help="seed of the deterministic data set")
    faults = parser.add_argument_group("faults (all off by default; also settable at /_sim/config)")
    faults.add_argument("--token-revoke-every", type=float, default=0.0, help="revoke every token each N seconds")
    faults.add_argument("--throttle-rate", type=float, default=0.0, help="share of data calls answered 429")
    faults.add_argument("--hang-rate", type=float, default=0.0, help="share of calls never answered (1: API down)")
    faults.add_argument("--refused-products", default="", help="comma-separated codes answered with a refusal")
    faults.add_argument("--account-refusal", default="", help="refuse every data call with this message")
    faults.add_argument("--success-code", default="", help="code sent in success envelopes instead of 200")


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
        quirks=tuple(name.strip() for name in args.quirks.split(",") if name.strip()),
        quirk_rate=args.quirk_rate,
        token_revoke_every=args.token_revoke_every,
        throttle_rate=args.throttle_rate,
        hang_rate=args.hang_rate,
        refused_products=tuple(code.strip() for code in args.refused_products.split(",") if code.strip()),
        account_refusal=args.account_refusal,
        success_code=args.success_code,
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
