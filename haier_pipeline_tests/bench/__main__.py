"""`make bench` / `python -m haier_pipeline_tests.bench`: measure, print a Markdown table, write JSON."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path

from haier_pipeline_tests.bench import run_bench
from haier_pipeline_tests.bench.gateway import COUNTIES
from haier_pipeline_tests.bench.machine import one_line
from haier_pipeline_tests.bench.report import FIGURE_KEYS, check_shape, markdown_table
from haier_pipeline_tests.bench.sizes import PRESETS

DEFAULT_OUTPUT = Path("data/bench/bench.json")


def sizes_argument(raw: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted(int(part) for part in raw.split(",") if part.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: comma-separated product counts, e.g. 5000,50000") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r}: at least one positive product count")
    return values


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m haier_pipeline_tests.bench",
        description=__doc__,
        epilog="examples:\n  make bench\n  python -m haier_pipeline_tests.bench --quick\n"
        "  python -m haier_pipeline_tests.bench --only sync,sync_2000_products --sync-products 325\n"
        "  python -m haier_pipeline_tests.bench --only memory,linear_time --scale-products 5000,20000,50000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument("--quick", action="store_const", const="quick", dest="preset", help="smaller sizes (~3 min)")
    parse.add_argument("--preset", choices=sorted(PRESETS), help=argparse.SUPPRESS)
    parse.set_defaults(preset="full")
    parse.add_argument("--only", help=f"comma-separated figures: {','.join(FIGURE_KEYS)}")
    parse.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON report (default {DEFAULT_OUTPUT})")
    sizes = parse.add_argument_group("sizes (default: the preset's)")
    sizes.add_argument("--fan-out-calls", type=int, help="stock calls of figures 1-2 (3000)")
    sizes.add_argument("--sync-products", type=int, help="products of figure 3's sync, 10 counties (325: ~3,000 calls)")
    sizes.add_argument("--share-products", type=int, help="products of the non-API-share sync (2000)")
    sizes.add_argument(
        "--share-counties", type=county_count, help=f"counties of the non-API-share sync, 1 to {len(COUNTIES)} (30)"
    )
    sizes.add_argument("--budget-calls", type=int, help="HAIER_STOCK_CALL_BUDGET of figure 5 (1000)")
    sizes.add_argument("--scale-products", type=sizes_argument, help="catalog sizes of figures 6-7 (5000,50000)")
    sizes.add_argument("--ceiling-calls", type=int, help="calls of figure 9 (3000)")
    sizes.add_argument("--cpu-calls", type=int, help="calls of each fresh process of figure 11 (3000)")
    sizes.add_argument("--cpu-runs", type=int, help="fresh processes of figure 11 (5)")
    sizes.add_argument(
        "--latency-jitter", type=float, help="figures 1-2: the gateway's jitter, a share of its latency (0.5: ±50 %%)"
    )
    return parse


def county_count(raw: str) -> int:
    count = int(raw)
    if not 1 <= count <= len(COUNTIES):
        raise argparse.ArgumentTypeError(f"{raw}: the benchmark's gateway serves 1 to {len(COUNTIES)} counties")
    return count


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the simulators and sync processes this run started are stopped too.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    sizes = PRESETS[args.preset].replace(
        fan_out_calls=args.fan_out_calls,
        sync_products=args.sync_products,
        share_products=args.share_products,
        share_counties=args.share_counties,
        budget_calls=args.budget_calls,
        scale_products=args.scale_products,
        ceiling_calls=args.ceiling_calls,
        cpu_calls=args.cpu_calls,
        cpu_runs=args.cpu_runs,
        latency_jitter=args.latency_jitter,
    )
    only = {name.strip() for name in args.only.split(",") if name.strip()} if args.only else None
    command = "python -m haier_pipeline_tests.bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = run_bench(sizes, only, command.strip())
    problems = check_shape(report)
    print(f"benchmark, {sizes.preset} sizes, {report['duration_seconds']:.0f} s on {one_line(report['machine'])}")
    print(markdown_table(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {args.output}")
    failed = [key for key, figure in report["figures"].items() if figure["status"] == "failed"]
    for key in failed:
        print(f"{key} failed: {report['figures'][key]['reason']}", file=sys.stderr)
    for problem in problems:
        print(f"report shape: {problem}", file=sys.stderr)
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
