"""`haier-pipeline simulator`: the vendor API on loopback, for the demo, the UI and experiments."""

from __future__ import annotations

import argparse
import errno
import math
import sys
from collections.abc import Callable
from typing import TypeVar

from haier_pipeline.cli.main import EXIT_FAILED, EXIT_OK
from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.simulator.quirks import QUIRKS

DEFAULT_PORT = 8765

T = TypeVar("T")


def finite_float(text: str) -> float:
    value = float(text)
    # float() takes "nan" and "inf", which no knob can use: a NaN rate passes every comparison-based check.
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def option_type(
    parse: Callable[[str], T],
    allowed: str,
    knob: str | None = None,
    accept: Callable[[T], bool] | None = None,
) -> Callable[[str], T]:
    """An argparse type: `parse` the text, let SimulatorConfig judge the value of `knob` (so the command line takes
    exactly what the simulator can serve, by the simulator's own rule), then `accept` for what the command line asks
    more. Anything else is a usage error (exit 2) naming the option and `allowed`."""

    def convert(text: str) -> T:
        try:
            value = parse(text)
            if knob is not None:
                SimulatorConfig(**{knob: value})
            valid = accept is None or accept(value)
        except ValueError:
            valid = False
        if not valid:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}")
        return value

    return convert


def port_number(lowest: int, allowed: str) -> Callable[[str], int]:
    return option_type(int, allowed, accept=lambda port: lowest <= port <= 65535)


def share(knob: str) -> Callable[[str], float]:
    return option_type(finite_float, "a share from 0 to 1 (e.g. 0.05)", knob)


def quirk_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    # Checked here, not by SimulatorConfig: it expands "all" first, so a typo beside "all" would pass unnoticed.
    unknown = sorted(set(names) - set(QUIRKS) - {"all"})
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown quirk(s) {', '.join(unknown)}: choose among {', '.join(sorted(QUIRKS))} (comma-separated), or all"
        )
    return names


def county_codes(text: str) -> tuple[str, ...]:
    codes = tuple(code.strip() for code in text.split(",") if code.strip())
    try:
        SimulatorConfig(counties=codes)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of 6-digit county codes (e.g. 110101,310104)"
        ) from None
    return codes


PORT = port_number(0, "a port number from 0 to 65535 (0 picks any free port)")
# Stricter than SimulatorConfig (which serves 0 products): an empty catalog leaves nothing to demo or sync.
PRODUCTS = option_type(int, "a whole number of products, 1 or more", "products", lambda count: count >= 1)
LATENCY_MS = option_type(finite_float, "a number of milliseconds, 0 or more", accept=lambda ms: ms >= 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=PORT, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--products", type=PRODUCTS, default=120, help="products in the data set (default 120)")
    parser.add_argument("--counties", type=county_codes, default=None, help="comma-separated 6-digit county codes")
    parser.add_argument("--latency-ms", type=LATENCY_MS, default=0.0, help="answer latency, with 20%% jitter")
    parser.add_argument(
        "--rate",
        type=option_type(finite_float, "a positive number of requests per second", "rate_limit"),
        default=None,
        help="requests/s before answering 429 (default: none)",
    )
    parser.add_argument(
        "--fault-rate", type=share("fault_rate"), default=0.0, help="share of data calls answered 503/garbled"
    )
    parser.add_argument(
        "--bad-row-rate", type=share("bad_row_rate"), default=0.0, help="share of malformed rows (quarantine demo)"
    )
    parser.add_argument(
        "--quirks",
        type=quirk_names,
        default=(),
        help="comma-separated data quirks to serve (or all): " + ", ".join(sorted(QUIRKS)),
    )
    parser.add_argument(
        "--quirk-rate", type=share("quirk_rate"), default=0.1, help="share of rows each quirk touches (default 0.1)"
    )
    parser.add_argument(
        "--token-ttl",
        type=option_type(finite_float, "a number of seconds, 0 or more", accept=lambda seconds: seconds >= 0),
        default=3600.0,
        help="server-side token lifetime, seconds",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the deterministic data set")
    faults = parser.add_argument_group("faults (all off by default; also settable at /_sim/config)")
    faults.add_argument(
        "--token-revoke-every",
        type=option_type(finite_float, "a number of seconds, 0 or more (0: never)", "token_revoke_every"),
        default=0.0,
        help="revoke every token each N seconds",
    )
    faults.add_argument(
        "--throttle-rate", type=share("throttle_rate"), default=0.0, help="share of data calls answered 429"
    )
    faults.add_argument(
        "--hang-rate", type=share("hang_rate"), default=0.0, help="share of calls never answered (1: API down)"
    )
    faults.add_argument("--refused-products", default="", help="comma-separated codes answered with a refusal")
    faults.add_argument("--account-refusal", default="", help="refuse every data call with this message")
    faults.add_argument("--success-code", default="", help="code sent in success envelopes instead of 200")


def run(args: argparse.Namespace) -> int:
    from haier_pipeline.simulator import serve

    # Counties only when given, so the simulator's own default list stays the one place it is written.
    counties = {"counties": args.counties} if args.counties else {}
    config = SimulatorConfig(
        seed=args.seed,
        products=args.products,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_ms * 0.2,
        rate_limit=args.rate,
        fault_rate=args.fault_rate,
        bad_row_rate=args.bad_row_rate,
        token_ttl=args.token_ttl,
        quirks=args.quirks,
        quirk_rate=args.quirk_rate,
        token_revoke_every=args.token_revoke_every,
        throttle_rate=args.throttle_rate,
        hang_rate=args.hang_rate,
        refused_products=tuple(code.strip() for code in args.refused_products.split(",") if code.strip()),
        account_refusal=args.account_refusal,
        success_code=args.success_code,
        **counties,
    )
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
