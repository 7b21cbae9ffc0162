"""`haier-pipeline simulator`: the vendor API on loopback, for the demo, the UI and experiments."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable
from typing import Any

from haier_pipeline.cli.exit_codes import EXIT_FAILED, EXIT_OK
from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.simulator.quirks import QUIRKS

DEFAULT_PORT = 8765
KNOBS = SimulatorConfig.model_fields


def option_type(parse: Callable[[str], Any], allowed: str) -> Callable[[str], Any]:
    """An argparse type: `parse` the text; a ValueError is a usage error (exit 2) naming the option and `allowed`."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None

    return convert


def knob_type(knob: str, allowed: str, lowest: float | None = None) -> Callable[[str], Any]:
    """The text read as SimulatorConfig reads `knob` (a list comma-separated), so the command line takes exactly
    what the simulator can serve, by the simulator's own rule; `lowest` is what the command line asks more."""
    listed = isinstance(KNOBS[knob].default, tuple)

    def parse(text: str) -> Any:
        given = [part.strip() for part in text.split(",") if part.strip()] if listed else text
        value = getattr(SimulatorConfig.model_validate({knob: given}), knob)
        if lowest is not None and value < lowest:
            raise ValueError(text)
        return value

    return option_type(parse, allowed)


def port_number(lowest: int, allowed: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not lowest <= int(text) <= 65535:
            raise ValueError(text)
        return int(text)

    return option_type(parse, allowed)


def quirk_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(QUIRKS) - {"all"})
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown quirk(s) {', '.join(unknown)}: choose among {', '.join(sorted(QUIRKS))} (comma-separated), or all"
        )
    return names


SHARE = "a share from 0 to 1 (e.g. 0.05)"
SECONDS = "a number of seconds, 0 or more"
PORT = port_number(0, "a port number from 0 to 65535 (0 picks any free port)")
# Stricter than SimulatorConfig (which serves 0 products): an empty catalog leaves nothing to demo or sync.
PRODUCTS = knob_type("products", "a whole number of products, 1 or more", lowest=1)
LATENCY_MS = knob_type("latency_ms", "a number of milliseconds, 0 or more")
# option, knob, what it takes (said by a usage error) or its own argparse type, help; the default is the knob's.
OPTIONS = (
    ("--products", "products", PRODUCTS, "products in the data set"),
    (
        "--counties",
        "counties",
        "a comma-separated list of 6-digit county codes (e.g. 110101,310104)",
        "comma-separated 6-digit county codes",
    ),
    ("--latency-ms", "latency_ms", LATENCY_MS, "answer latency, with 20%% jitter"),
    ("--rate", "rate_limit", "a positive number of requests per second", "requests/s before answering 429"),
    ("--fault-rate", "fault_rate", SHARE, "share of data calls answered 503/garbled"),
    ("--bad-row-rate", "bad_row_rate", SHARE, "share of malformed rows (quarantine demo)"),
    ("--quirks", "quirks", quirk_names, "comma-separated data quirks to serve (or all): " + ", ".join(sorted(QUIRKS))),
    ("--quirk-rate", "quirk_rate", SHARE, "share of rows each quirk touches"),
    ("--token-ttl", "token_ttl", SECONDS, "server-side token lifetime, seconds"),
    ("--seed", "seed", "a whole number", "seed of the deterministic data set"),
)
FAULTS = (
    ("--token-revoke-every", "token_revoke_every", SECONDS + " (0: never)", "revoke every token each N seconds"),
    ("--throttle-rate", "throttle_rate", SHARE, "share of data calls answered 429"),
    ("--hang-rate", "hang_rate", SHARE, "share of calls never answered (1: API down)"),
    (
        "--refused-products",
        "refused_products",
        "a comma-separated list of product codes",
        "comma-separated codes answered with a refusal",
    ),
    ("--account-refusal", "account_refusal", "a message", "refuse every data call with this message"),
    ("--success-code", "success_code", "a code", "code sent in success envelopes instead of 200"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=PORT, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    faults = parser.add_argument_group("faults (all off by default; also settable at /_sim/config)")
    for group, options in ((parser, OPTIONS), (faults, FAULTS)):
        for option, knob, allowed, text in options:
            kind = knob_type(knob, allowed) if isinstance(allowed, str) else allowed
            default = KNOBS[knob].default
            shown = ",".join(default) if isinstance(default, tuple) else default
            text += f" (default {shown})" if shown not in ("", None) else ""
            group.add_argument(option, dest=knob, type=kind, default=default, help=text)


def run(args: argparse.Namespace) -> int:
    # Imported here: the simulator's web server (starlette, uvicorn) would cost every other command's start-up.
    from haier_pipeline.simulator import serve

    knobs = {knob: getattr(args, knob) for _, knob, _, _ in OPTIONS + FAULTS}
    config = SimulatorConfig(**knobs, latency_jitter_ms=args.latency_ms * 0.2)
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
