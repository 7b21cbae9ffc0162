"""The command line's parser; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence

from haier_pipeline.cli import check, demo, query, simulator, sync, ui
from haier_pipeline.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from haier_pipeline.cli.interrupts import report_interruption
from haier_pipeline.cli.startup import freeze_heap_at_exit, resume_garbage_collection
from haier_pipeline.haier import HaierConfigurationError, HaierError
from haier_pipeline.instance import absolute_dagster_home
from haier_pipeline.redaction import redact
from haier_pipeline.warehouse.errors import WarehouseConfigError, WarehouseError, storage_fault
from haier_pipeline.warehouse.url import mask_url

EXAMPLES = {
    "sync": """examples:
  haier-pipeline sync                              every asset, stock for today (Asia/Shanghai)
  haier-pipeline sync --only prices,catalog        just prices (and their history) and the catalog
  haier-pipeline sync --only stock                 today's stock (Asia/Shanghai) and nothing else
  haier-pipeline sync --timings timings.json       also write where the time went (the folder must exist)
  haier-pipeline sync --account north --account south   two accounts of HAIER_ACCOUNTS_FILE, side by side
  haier-pipeline sync --accounts-at-once 2          every account, two at a time""",
    "check": """examples:
  haier-pipeline check                             configuration (secrets masked), warehouse, token, each endpoint
  haier-pipeline check --record first-contact      the same, keeping each endpoint's first answers (secrets masked)
  haier-pipeline check --account north             one account of HAIER_ACCOUNTS_FILE (default: each in turn)""",
    "query": """examples:
  haier-pipeline query products                    the whole listing (is_sales says what is procurable)
  haier-pipeline query products GA0SZC00U --json   one product as JSON
  haier-pipeline query prices GA0SZC00U GA1AB2C3D  any number of codes, 20 a call
  haier-pipeline query stock GA0SZC00U 110101      one row per warehouse (cached for HAIER_STOCK_CACHE_TTL s)
  haier-pipeline query logistics SO.20190106.000003 --delivery-record-code SO.20190106.000003.F1 --member-id 42
  haier-pipeline query balance --json
  haier-pipeline query logistics --help            each lookup's options, with an example of each""",
    "simulator": """examples:
  haier-pipeline simulator                         the simulated API on http://127.0.0.1:8765
  haier-pipeline simulator --latency-ms 30 --rate 100 --products 500
  haier-pipeline simulator --fault-rate 0.05 --token-ttl 120""",
    "demo": """examples:
  haier-pipeline demo                              simulator + every asset into data/warehouse.duckdb""",
    "ui": """examples:
  haier-pipeline ui                                dg dev (UI and daemon) on http://127.0.0.1:3000
  haier-pipeline ui --port 3001                    on another port (make ui PORT=3001)""",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="haier-pipeline",
        description="Keep a Haier dealer's catalog (products, prices, stock, logistics, balance) in a warehouse.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, summary in (
        ("sync", sync, "materialize assets through Dagster into the warehouse"),
        ("check", check, "validate the configuration and test the API connection"),
        ("query", query, "one-off lookups against the API (stock: cached in the warehouse)"),
        ("simulator", simulator, "serve the bundled Haier API simulator on loopback"),
        ("demo", demo, "start the simulator, materialize every asset, print a summary"),
        ("ui", ui, "the Dagster UI and daemon on 127.0.0.1 (simulator when no API is configured)"),
    ):
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


# Commands that end the start-up pause of garbage collection themselves, once their own set-up is done.
RESUME_COLLECTION_THEMSELVES = frozenset({"sync"})


def main(argv: Sequence[str] | None = None) -> int:
    freeze_heap_at_exit()
    args = _parser().parse_args(argv)
    absolute_dagster_home()
    if args.command not in RESUME_COLLECTION_THEMSELVES:
        resume_garbage_collection()
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        code = run(args)
        sys.stdout.flush()  # here, not at exit, so a reader that left early (`| head`) is handled below
        return code
    except (HaierConfigurationError, WarehouseConfigError) as error:
        print(f"haier-pipeline {args.command}: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (HaierError, WarehouseError) as error:
        print(f"haier-pipeline {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return report_interruption(args.command)
    except BrokenPipeError:
        # The reader (e.g. `| head`) has what it wanted. Caught before OSError, its base class. Python's advice:
        # point stdout at /dev/null so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:
        # A file or socket the command needed (a folder it cannot write, a port): named, no traceback.
        print(f"haier-pipeline {args.command}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        return report_unexpected(args.command, error)


def report_unexpected(command: str, error: Exception) -> int:
    """A failure nobody foresaw (or a defect): one line that says so, and the traceback, secrets masked, in a file
    the user can attach to a report, rather than a screenful that ends the command."""
    # Its first line: a database driver goes on with the statement and its parameters, which the file keeps.
    first_line = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    summary = mask_url(redact(f"{type(error).__name__}: {first_line}")).rstrip(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f"haier-pipeline-{command}-", suffix=".traceback.txt")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(mask_url(redact("".join(traceback.format_exception(error)))))
        where = f"its traceback is in {name}"
    except OSError as unsaved:
        where = f"its traceback could not be saved ({unsaved.strerror})"
    if fault := storage_fault(error):
        # Not the warehouse (its backends name it themselves): the Dagster instance, or a temporary file.
        meaning, fix = fault
        home = os.environ.get("DAGSTER_HOME") or os.getcwd()
        print(
            f"haier-pipeline {command}: could not write to disk: {meaning.removeprefix('its ')} ({summary}); the "
            f"disk of the Dagster instance (DAGSTER_HOME {home}: its runs and event log) or of the temporary folder "
            f"({tempfile.gettempdir()}). {fix.capitalize()}, then run the command again; {where}.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"haier-pipeline {command}: unexpected error: {summary}. This is a defect or a failure nobody foresaw; "
        f"{where}. Please report it with that file and the command you ran.",
        file=sys.stderr,
    )
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
